/**
 * The head on host arrays (linear-head-on-gemm.ts) against the tfjs head: the loss sum
 * and ∂/∂h, ∂/∂W, ∂/∂c to float32 rounding (relative ≤ 1e-5), under an upstream
 * gradient that is not 1, through the native BLAS Gemm and through TfGemm. The
 * squared-error reference is the tfjs composition libs/bptt losses.ts uses
 * (α·Σ(h·Wᵀ + c − D)²); libs/bptt losses.spec.ts covers headLoss and masked rows.
 */
import { describeNative } from '@unroll/kernels-native/testing';
import { loadNativeKernels } from '@unroll/kernels-native';
import { tf } from './tf';
import { selectBackend } from './backend';
import { TfGemm, type Gemm } from './gemm';
import { NativeGemm } from './native-gemm';
import { linearCrossEntropy, TargetRangeError } from './linear-cross-entropy';
import { linearSquaredErrorOnGemm } from './linear-head-on-gemm';
import { relError, seededRandom } from './testing';

const [N, H, O] = [30, 12, 9];
const DY = 1.7;

type Head = (h: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Scalar;

function lossAndGrads(head: Head, seed: number): { loss: number; grads: Float32Array[] } {
  const rng = seededRandom(seed);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => (rng() * 2 - 1) * s);
  const inputs = [tf.tensor2d(rand(N * H, 1), [N, H]), tf.tensor2d(rand(O * H, 0.5), [O, H]), tf.tensor1d(rand(O, 0.3))];
  let loss = 0;
  const dy = tf.scalar(DY);
  const g = tf.grads((h: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
    const l = head(h as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D);
    loss = l.dataSync()[0];
    return l;
  })(inputs, dy);
  const grads = g.map((t) => Float32Array.from(t.dataSync() as Float32Array));
  tf.dispose([...inputs, dy, ...g]);
  return { loss, grads };
}

const targets = Int32Array.from({ length: N }, (_, i) => (i * 7) % O);
const values = Float32Array.from({ length: N * O }, (_, i) => Math.sin(i));

function expectAgreement(got: { loss: number; grads: Float32Array[] }, ref: { loss: number; grads: Float32Array[] }): void {
  expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThanOrEqual(1e-5);
  got.grads.forEach((g, i) => expect(relError(g, ref.grads[i])).toBeLessThanOrEqual(1e-5));
}

function headOnGemm(gemm: () => Gemm): void {
  it('cross-entropy agrees with the tfjs head', () => {
    const before = tf.memory().numTensors;
    const ref = lossAndGrads((h, w, b) => linearCrossEntropy(h, w, b, targets), 1);
    const got = lossAndGrads((h, w, b) => linearCrossEntropy(h, w, b, targets, { gemm: gemm() }), 1);
    expect(tf.memory().numTensors).toBe(before);
    expectAgreement(got, ref);
  });

  it.each([1, 0.5])('α·Σ(h·Wᵀ + c − D)² with α = %s agrees with the tfjs composition', (alpha) => {
    const before = tf.memory().numTensors;
    const ref = lossAndGrads((h, w, b) => tf.tidy(() => tf.mul(tf.sum(tf.square(tf.sub(tf.add(tf.matMul(h, tf.transpose(w)), b), tf.tensor2d(values, [N, O])))), alpha) as tf.Scalar), 2);
    const got = lossAndGrads((h, w, b) => linearSquaredErrorOnGemm(gemm(), h, w, b, values, alpha), 2);
    expect(tf.memory().numTensors).toBe(before);
    expectAgreement(got, ref);
  });

  it('checks shapes and targets like the tfjs head', () => {
    const [h, w, b] = [tf.zeros([N, H]) as tf.Tensor2D, tf.zeros([O, H]) as tf.Tensor2D, tf.zeros([O]) as tf.Tensor1D];
    expect(() => linearCrossEntropy(h, w, b, Int32Array.from(targets).fill(O, 3, 4), { gemm: gemm() })).toThrow(TargetRangeError);
    expect(() => linearSquaredErrorOnGemm(gemm(), h, w, b, values.subarray(1), 1)).toThrow(RangeError);
    tf.dispose([h, w, b]);
  });
}

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('the head through TfGemm', () => headOnGemm(() => new TfGemm()));

describeNative('the head through NativeGemm (BLAS)', () => {
  const load = loadNativeKernels();
  headOnGemm(() => new NativeGemm((load as Extract<typeof load, { ok: true }>).kernels));
});
