/**
 * The output head and the cross-entropy loss as one operation:
 *
 *   y_t = softmax(V·s_t + c),    L = −Σ_t ln y_t[d_t]      (the lecture's notation)
 *
 * returned as the SUM over the N rows (the engine divides by the step's token
 * count, so micro-batches accumulate exactly). The gradient is the lecture's
 * ∂L/∂z = y − d, applied to the head in three products:
 *   ∂L/∂s = (y − d)·V,   ∂L/∂V = (y − d)ᵀ·s,   ∂L/∂c = Σ_rows (y − d)
 * Fusing avoids materialising one-hot targets and taping softmax.
 *
 * The products run as tf.matMul on the active tfjs backend, unless `gemm` is given:
 * then they run through it on host arrays (linear-head-on-gemm.ts; the engine passes
 * the native window kernel's BLAS Gemm).
 */
import { tf } from './tf';
import type { Gemm } from './gemm';
import { crossEntropyLogitGradient, linearCrossEntropyOnGemm, softmaxCrossEntropyInPlace } from './linear-head-on-gemm';

export class TargetRangeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'TargetRangeError';
  }
}

export interface HeadOptions {
  /** Runs the head's products on host arrays through this Gemm. @defaultValue none: tf.matMul on the backend */
  gemm?: Gemm;
}

/** h [N, H], weight [V, H] (PyTorch's decoder.weight), bias [V], targets N ids → scalar loss sum. */
export function linearCrossEntropy(h: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor1D, targets: Int32Array, opts: HeadOptions = {}): tf.Scalar {
  const [N, H] = h.shape;
  const [V, Hw] = weight.shape;
  if (Hw !== H) throw new RangeError(`decoder weight expects [V, ${H}], got [${weight.shape}]`);
  if (targets.length !== N) throw new RangeError(`expected ${N} targets, got ${targets.length}`);
  for (let i = 0; i < N; i++) {
    if (targets[i] < 0 || targets[i] >= V) throw new TargetRangeError(`target ${targets[i]} at row ${i} is outside [0, ${V})`);
  }
  if (opts.gemm) return linearCrossEntropyOnGemm(opts.gemm, h, weight, bias, targets);
  const op = tf.customGrad((...args) => {
    const [hs, w, b] = args as tf.Tensor[];
    (args[3] as tf.GradSaveFunc)([hs, w]);
    const logits = tf.tidy(() => tf.add(tf.matMul(hs, tf.transpose(w)), b));
    // p holds softmax probabilities after this (the logits array is ours to reuse).
    const p = Float32Array.from(logits.dataSync() as Float32Array);
    logits.dispose();
    const value = tf.scalar(softmaxCrossEntropyInPlace(p, targets, N, V));
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [hSaved, wSaved] = saved;
      const dz = crossEntropyLogitGradient(p, targets, N, V, (dy.dataSync() as Float32Array)[0]);
      return tf.tidy(() => {
        const dZ = tf.tensor2d(dz, [N, V]);
        return [tf.matMul(dZ, wSaved), tf.matMul(tf.transpose(dZ), hSaved), tf.sum(dZ, 0)];
      });
    };
    return { value, gradFunc };
  });
  return op(h, weight, bias) as tf.Scalar;
}
