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
 */
import { tf } from './tf';

export class TargetRangeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'TargetRangeError';
  }
}

/** h [N, H], weight [V, H] (PyTorch's decoder.weight), bias [V], targets N ids → scalar loss sum. */
export function linearCrossEntropy(h: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor1D, targets: Int32Array): tf.Scalar {
  const [N, H] = h.shape;
  const [V, Hw] = weight.shape;
  if (Hw !== H) throw new RangeError(`decoder weight expects [V, ${H}], got [${weight.shape}]`);
  if (targets.length !== N) throw new RangeError(`expected ${N} targets, got ${targets.length}`);
  for (let i = 0; i < N; i++) {
    if (targets[i] < 0 || targets[i] >= V) throw new TargetRangeError(`target ${targets[i]} at row ${i} is outside [0, ${V})`);
  }
  const op = tf.customGrad((...args) => {
    const [hs, w, b] = args as tf.Tensor[];
    (args[3] as tf.GradSaveFunc)([hs, w]);
    const logits = tf.tidy(() => tf.add(tf.matMul(hs, tf.transpose(w)), b));
    // p holds softmax probabilities after the loop (the logits array is ours to reuse).
    const p = Float32Array.from(logits.dataSync() as Float32Array);
    logits.dispose();
    let loss = 0;
    for (let r = 0; r < N; r++) {
      const base = r * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (p[base + j] > max) max = p[base + j];
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(p[base + j] - max);
      const lse = max + Math.log(sum);
      loss += lse - p[base + targets[r]];
      for (let j = 0; j < V; j++) p[base + j] = Math.exp(p[base + j] - lse);
    }
    const value = tf.scalar(loss);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [hSaved, wSaved] = saved;
      const g = (dy.dataSync() as Float32Array)[0];
      const dz = new Float32Array(N * V);
      for (let r = 0; r < N; r++) {
        const base = r * V;
        for (let j = 0; j < V; j++) dz[base + j] = g * p[base + j];
        dz[base + targets[r]] -= g;
      }
      return tf.tidy(() => {
        const dZ = tf.tensor2d(dz, [N, V]);
        return [tf.matMul(dZ, wSaved), tf.matMul(tf.transpose(dZ), hSaved), tf.sum(dZ, 0)];
      });
    };
    return { value, gradFunc };
  });
  return op(h, weight, bias) as tf.Scalar;
}
