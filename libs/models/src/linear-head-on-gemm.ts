/**
 * The output head and its loss on host Float32Arrays, every product through a Gemm.
 *
 * For a network whose window kernel is native (kernel.ts): its Gemm is cblas_sgemm
 * on the arrays' own memory, so the head runs in the same BLAS as the window instead
 * of tf.matMul on the tfjs backend (on tfjs-backend-cpu that matMul alone cost about
 * 300 ms of a 330 ms step). The tfjs head (linear-cross-entropy.ts, and libs/bptt
 * losses.ts for the squared errors) is untouched; this is the other implementation.
 *
 *   forward    Z = h·Wᵀ + c                                  [N, O], one product
 *   backward   ∂L/∂h = ∂L/∂Z · W,   ∂L/∂W = (∂L/∂Z)ᵀ · h,   ∂L/∂c = Σ_rows ∂L/∂Z
 *
 * with the losses as SUMS over the N rows (the engine divides by the step's count):
 *
 *   cross-entropy   L = Σ_r (ln Σ_j e^{Z_rj} − Z_r[d_r])    ∂L/∂Z = softmax(Z) − onehot(d)
 *   squared error   L = α Σ (Z − D)²                         ∂L/∂Z = 2α (Z − D)
 *                   (α = 1: mse's sum, α = ½: sse)
 *
 * Each is one tf.customGrad op over (h, W, c), so a surrounding tf.variableGrads
 * tapes it exactly like the tfjs head; results agree with it to float32 rounding
 * (linear-head-on-gemm.spec.ts). h and W are read once, in the forward, and kept as
 * host arrays for the backward: the tape holds their tensors until it is done, and
 * parameters change only after it (Trainer.writeParams assigns new tensors).
 */
import { tf } from './tf';
import { columnSums } from './cells/cell-kernel';
import type { Gemm } from './gemm';

/**
 * A loss on the head's output Z. Z is the op's own array: the loss overwrites it, and
 * the gradient is written over it too (the backward runs once: tfjs calls a tape
 * node's gradient once), so the head allocates no second [N, O] array.
 */
interface HeadLossOnHost {
  /** The loss sum of Z, and ∂(g·L)/∂Z for the backward. */
  apply(z: Float32Array, N: number, O: number): { sum: number; gradient: (g: number) => Float32Array };
}

/**
 * Cross-entropy of each row of `z` [N, V] against `targets`, summed; `z` is
 * overwritten with the softmax probabilities. Shared by both heads.
 */
export function softmaxCrossEntropyInPlace(z: Float32Array, targets: Int32Array, N: number, V: number): number {
  let loss = 0;
  for (let r = 0; r < N; r++) {
    const base = r * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (z[base + j] > max) max = z[base + j];
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(z[base + j] - max);
    const lse = max + Math.log(sum);
    loss += lse - z[base + targets[r]];
    for (let j = 0; j < V; j++) z[base + j] = Math.exp(z[base + j] - lse);
  }
  return loss;
}

/**
 * g·(p − onehot(targets)): the cross-entropy gradient at the logits, into `dz` (which
 * may be `p` itself). Shared by both heads.
 */
export function crossEntropyLogitGradient(p: Float32Array, targets: Int32Array, N: number, V: number, g: number, dz: Float32Array = new Float32Array(N * V)): Float32Array {
  for (let r = 0; r < N; r++) {
    const base = r * V;
    for (let j = 0; j < V; j++) dz[base + j] = g * p[base + j];
    dz[base + targets[r]] -= g;
  }
  return dz;
}

/** L = Σ_r −ln softmax(Z_r)[d_r]. */
function crossEntropyOnHost(targets: Int32Array): HeadLossOnHost {
  return {
    apply(z, N, V) {
      const sum = softmaxCrossEntropyInPlace(z, targets, N, V);
      return { sum, gradient: (g) => crossEntropyLogitGradient(z, targets, N, V, g, z) };
    },
  };
}

/** L = α Σ (Z − D)²; `z` becomes Z − D. */
function squaredErrorOnHost(targets: Float32Array, alpha: number): HeadLossOnHost {
  return {
    apply(z) {
      let sq = 0;
      for (let i = 0; i < z.length; i++) {
        z[i] -= targets[i];
        sq += z[i] * z[i];
      }
      return {
        sum: alpha * sq,
        gradient: (g) => {
          const k = 2 * alpha * g;
          for (let i = 0; i < z.length; i++) z[i] *= k;
          return z;
        },
      };
    },
  };
}

function linearHeadOnGemm(gemm: Gemm, h: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor1D, loss: HeadLossOnHost): tf.Scalar {
  const [N, H] = h.shape;
  const O = weight.shape[0];
  const op = tf.customGrad((...args) => {
    const [hs, w, b] = args as tf.Tensor[];
    const hData = hs.dataSync() as Float32Array;
    const wData = w.dataSync() as Float32Array;
    const bData = b.dataSync() as Float32Array;
    const wT = gemm.matrix(wData, O, H, true);
    const z = gemm.mul(hData, N, wT);
    gemm.release(wT);
    for (let r = 0; r < N; r++) {
      const base = r * O;
      for (let j = 0; j < O; j++) z[base + j] += bData[j];
    }
    const { sum, gradient } = loss.apply(z, N, O);
    const value = tf.scalar(sum);
    const gradFunc = (dy: tf.Tensor): tf.Tensor[] => {
      const dZ = gradient((dy.dataSync() as Float32Array)[0]);
      const wM = gemm.matrix(wData, O, H);
      const dH = gemm.mul(dZ, N, wM);
      gemm.release(wM);
      const dW = gemm.mulTN(dZ, N, O, hData, H);
      return [tf.tensor2d(dH, [N, H]), tf.tensor2d(dW, [O, H]), tf.tensor1d(columnSums(dZ, N, O))];
    };
    return { value, gradFunc };
  });
  return op(h, weight, bias) as tf.Scalar;
}

/** The cross-entropy head on `gemm`; arguments as linearCrossEntropy's, already checked. */
export function linearCrossEntropyOnGemm(gemm: Gemm, h: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor1D, targets: Int32Array): tf.Scalar {
  return linearHeadOnGemm(gemm, h, weight, bias, crossEntropyOnHost(targets));
}

/**
 * α·Σ (h·Wᵀ + c − D)² on `gemm`: h [N, H], weight [O, H], bias [O], targets N·O values
 * row-major (α = 1 for mse's sum, ½ for sse).
 */
export function linearSquaredErrorOnGemm(gemm: Gemm, h: tf.Tensor2D, weight: tf.Tensor2D, bias: tf.Tensor1D, targets: Float32Array, alpha: number): tf.Scalar {
  const [N, H] = h.shape;
  const [O, Hw] = weight.shape;
  if (Hw !== H) throw new RangeError(`decoder weight expects [O, ${H}], got [${weight.shape}]`);
  if (targets.length !== N * O) throw new RangeError(`expected ${N}×${O} targets, got ${targets.length}`);
  return linearHeadOnGemm(gemm, h, weight, bias, squaredErrorOnHost(targets, alpha));
}
