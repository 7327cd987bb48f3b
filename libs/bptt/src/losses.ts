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
