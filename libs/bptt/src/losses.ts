/**
 * Losses, each returned as a SUM with the count it is normalised by, so that
 * micro-batches accumulate exactly and the step divides once (the lecture's
 * L = Σ_i Σ_t L_it, normalised per scored position):
 *
 *   cross-entropy  −Σ ln y_t[d_t]               count = scored positions
 *   mse            Σ (d − y)²                   count = scored positions × outputs
 *   sse            ½ Σ (d − y)²                 count = scored positions
 */
import { tf, linearCrossEntropy } from '@unroll/models';

export type LossKind = 'cross-entropy' | 'mse' | 'sse';

export interface LossSum {
  sum: tf.Scalar;
  count: number;
}

/** h [N, H] → the loss sum against `targets` through the decoder (weight [O, H], bias [O]). */
export function headLoss(kind: LossKind, h: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor1D, targets: Int32Array | Float32Array): LossSum {
  const N = h.shape[0];
  if (kind === 'cross-entropy') {
    if (!(targets instanceof Int32Array)) throw new TypeError('cross-entropy expects integer class targets');
    return { sum: linearCrossEntropy(h, weight, bias, targets), count: N };
  }
  if (!(targets instanceof Float32Array)) throw new TypeError(`${kind} expects real-valued targets`);
  const O = weight.shape[0];
  if (targets.length !== N * O) throw new RangeError(`expected ${N}×${O} targets, got ${targets.length}`);
  const sq = tf.tidy(() => {
    const y = tf.add(tf.matMul(h, tf.transpose(weight)), bias);
    return tf.sum(tf.square(tf.sub(y, tf.tensor2d(targets, [N, O])))) as tf.Scalar;
  });
  if (kind === 'mse') return { sum: sq, count: N * O };
  return { sum: tf.tidy(() => tf.mul(sq, 0.5) as tf.Scalar), count: N };
}

/**
 * Rows `rows` of x [N, H] as [K, H], with the gradient scattered back on the host:
 * tf.gather's own gradient (unsortedSegmentSum) is several times slower on the cpu
 * backend than the whole window, and a loss mask gathers on every window. Rows must be
 * distinct (each gets its own row of the gradient).
 */
export function gatherRows(x: tf.Tensor2D, rows: Int32Array): tf.Tensor2D {
  const [N, H] = x.shape;
  const op = tf.customGrad((...args) => {
    const xs = args[0] as tf.Tensor2D;
    const value = tf.gather(xs, Array.from(rows)) as tf.Tensor2D;
    const gradFunc = (dy: tf.Tensor) => {
      const g = dy.dataSync() as Float32Array;
      const out = new Float32Array(N * H);
      rows.forEach((r, k) => out.set(g.subarray(k * H, (k + 1) * H), r * H));
      return [tf.tensor2d(out, [N, H])];
    };
    return { value, gradFunc };
  });
  return op(x) as tf.Tensor2D;
}
