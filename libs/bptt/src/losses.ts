/**
 * Losses, each returned as a SUM with the count it is normalised by, so that
 * micro-batches accumulate exactly and the step divides once (the lecture's
 * L = Σ_i Σ_t L_it, normalised per scored position):
 *
 *   cross-entropy  −Σ ln y_t[d_t]               count = scored positions
 *   mse            Σ (d − y)²                   count = scored positions × outputs
 *   sse            ½ Σ (d − y)²                 count = scored positions
 *
 * The head's products run as tf.matMul on the tfjs backend, or, given a `gemm` (the
 * native window kernel's BLAS), on host arrays through it (linear-head-on-gemm.ts in
 * @unroll/models); both give the same sums and gradients to float32 rounding.
 */
import { tf, linearCrossEntropy, linearSquaredErrorOnGemm, type Gemm } from '@unroll/models';

export type LossKind = 'cross-entropy' | 'mse' | 'sse';

export interface LossSum {
  sum: tf.Scalar;
  count: number;
}

/**
 * h [N, H] → the loss sum against `targets` through the decoder (weight [O, H], bias [O]);
 * with `gemm`, the head's products run through it on host arrays.
 */
export function headLoss(kind: LossKind, h: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor1D, targets: Int32Array | Float32Array, gemm?: Gemm): LossSum {
  const N = h.shape[0];
  if (kind === 'cross-entropy') {
    if (!(targets instanceof Int32Array)) throw new TypeError('cross-entropy expects integer class targets');
    return { sum: linearCrossEntropy(h, weight, bias, targets, { gemm }), count: N };
  }
  if (!(targets instanceof Float32Array)) throw new TypeError(`${kind} expects real-valued targets`);
  const O = weight.shape[0];
  if (targets.length !== N * O) throw new RangeError(`expected ${N}×${O} targets, got ${targets.length}`);
  if (gemm) {
    const alpha = kind === 'mse' ? 1 : 0.5;
    return { sum: linearSquaredErrorOnGemm(gemm, h, weight, bias, targets, alpha), count: kind === 'mse' ? N * O : N };
  }
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
 * distinct (each gets its own row of the gradient). `onHost` copies the rows on the
 * host too (for a head that reads them there anyway) instead of tf.gather.
 */
export function gatherRows(x: tf.Tensor2D, rows: Int32Array, onHost = false): tf.Tensor2D {
  const [N, H] = x.shape;
  const op = tf.customGrad((...args) => {
    const xs = args[0] as tf.Tensor2D;
    const value = onHost ? copyRows(xs.dataSync() as Float32Array, rows, H) : (tf.gather(xs, Array.from(rows)) as tf.Tensor2D);
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

function copyRows(x: Float32Array, rows: Int32Array, H: number): tf.Tensor2D {
  const out = new Float32Array(rows.length * H);
  rows.forEach((r, k) => out.set(x.subarray(r * H, (r + 1) * H), k * H));
  return tf.tensor2d(out, [rows.length, H]);
}
