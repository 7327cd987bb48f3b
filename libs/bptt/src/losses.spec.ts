/**
 * The head on host arrays through a Gemm against the tfjs head (tf.matMul on the
 * backend), for every loss: the loss sum and ∂/∂h, ∂/∂W, ∂/∂c agree to float32
 * rounding (relative ≤ 1e-5), with every row scored and with masked rows gathered,
 * under an upstream gradient that is not 1. Two Gemms: the native kernel's BLAS (what
 * the engine uses) and TfGemm (the same host code on tfjs products, no addon needed).
 * Then end to end: windowGradients and a few Trainer steps of a network on the
 * native kernel against the same network on the tfjs path.
 */
import { describeNative } from '@unroll/kernels-native/testing';
import { RecurrentNetwork, Rng, selectBackend, selectKernel, tf, TfGemm, type Gemm, type WindowKernel } from '@unroll/models';
import { gatherRows, headLoss, type LossKind } from './losses';
import { Adam } from './optimizers';
import type { WindowData } from './sequence-data';
import { denseData, maxAbsDiff } from './testing';
import { Trainer } from './trainer';
import { headGemm, windowGradients } from './window-gradients';

const [N, H, O] = [24, 16, 10];
/** Rows the mask keeps (distinct, not in order of the originals' neighbours). */
const KEPT = Int32Array.from([0, 2, 3, 7, 11, 12, 13, 19, 23]);
const DY = 0.73;

/** max |a − b| / max |b|: float32 rounding of sums over ≤ 24 terms stays far below 1e-5. */
function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  return maxAbsDiff(a, b) / Math.max(scale, 1e-12);
}

function uniform(n: number, rng: Rng, bound = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.uniform(-bound, bound));
}

function targetsFor(kind: LossKind, rows: number, rng: Rng): Int32Array | Float32Array {
  return kind === 'cross-entropy' ? Int32Array.from({ length: rows }, () => rng.nextU32() % O) : uniform(rows * O, rng);
}

/** Loss sum and its gradients (scaled by DY) with respect to h, W and c. */
function lossAndGrads(kind: LossKind, gemm: Gemm | undefined, gathered: boolean, seed: number): { loss: number; count: number; grads: Float32Array[] } {
  const rng = new Rng(seed);
  const inputs = [tf.tensor2d(uniform(N * H, rng), [N, H]), tf.tensor2d(uniform(O * H, rng, 0.5), [O, H]), tf.tensor1d(uniform(O, rng, 0.2))];
  const targets = targetsFor(kind, gathered ? KEPT.length : N, rng);
  let loss = 0;
  let count = 0;
  const f = (h: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Scalar => {
    const rows = gathered ? gatherRows(h as tf.Tensor2D, KEPT, gemm !== undefined) : (h as tf.Tensor2D);
    const l = headLoss(kind, rows, w as tf.Tensor2D, b as tf.Tensor1D, targets, gemm);
    loss = l.sum.dataSync()[0];
    count = l.count;
    return l.sum;
  };
  const dy = tf.scalar(DY);
  const g = tf.grads(f)(inputs, dy);
  const grads = g.map((t) => Float32Array.from(t.dataSync() as Float32Array));
  tf.dispose([...inputs, dy, ...g]);
  return { loss, count, grads };
}

const KINDS: LossKind[] = ['cross-entropy', 'mse', 'sse'];

function agreesWithTfjsHead(gemm: () => Gemm): void {
  describe.each(KINDS)('%s', (kind) => {
    it.each([
      ['every row', false],
      ['masked rows, gathered', true],
    ] as const)('%s: loss and ∂h, ∂W, ∂c agree with the tfjs head to float32 rounding', (_label, gathered) => {
      const before = tf.memory().numTensors;
      const ref = lossAndGrads(kind, undefined, gathered, 5);
      const got = lossAndGrads(kind, gemm(), gathered, 5);
      expect(tf.memory().numTensors).toBe(before);
      expect(got.count).toBe(ref.count);
      expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThanOrEqual(1e-5);
      expect(got.grads).toHaveLength(3);
      got.grads.forEach((g, i) => expect(rel(g, ref.grads[i])).toBeLessThanOrEqual(1e-5));
      // A masked row gets no gradient through the gather.
      if (gathered) expect(got.grads[0][H]).toBe(0);
    });
  });
}

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('headLoss through TfGemm (host code, tfjs products)', () => {
  agreesWithTfjsHead(() => new TfGemm());
});

describeNative('headLoss through the native kernel’s Gemm (BLAS)', () => {
  let native: WindowKernel;
  beforeAll(() => {
    native = selectKernel({ kernel: 'native', threads: 1, log: () => undefined });
  });
  agreesWithTfjsHead(() => native.gemm);

  const [T, B, V] = [5, 3, 6];
  function net(kernel: WindowKernel): RecurrentNetwork {
    return new RecurrentNetwork({ cell: { kind: 'lstm' }, input: { kind: 'tokens', vocabSize: V, embedding: 4 }, hidden: 8, layers: 1, outputSize: V }, new Rng(3), { kernel });
  }

  it('headGemm picks the native kernel’s Gemm, and none on the tfjs path', () => {
    const a = net(native);
    const b = net(selectKernel({ kernel: 'tfjs', log: () => undefined }));
    const c = new RecurrentNetwork(a.config, new Rng(3));
    expect(headGemm(a)).toBe(native.gemm);
    expect(headGemm(b)).toBeUndefined();
    expect(headGemm(c)).toBeUndefined();
    [a, b, c].forEach((n) => n.dispose());
  });

  it('windowGradients of a masked window: the native network agrees with the tfjs path', () => {
    const rng = new Rng(9);
    const data: WindowData = {
      input: { kind: 'tokens', ids: Int32Array.from({ length: T * B }, () => rng.nextU32() % V), T, B },
      targets: Int32Array.from({ length: T * B }, () => rng.nextU32() % V),
      mask: Uint8Array.from({ length: T * B }, (_, i) => (i % 4 === 1 ? 0 : 1)),
    };
    const nets = [net(native), net(selectKernel({ kernel: 'tfjs', log: () => undefined }))];
    const before = tf.memory().numTensors;
    const [got, ref] = nets.map((n) => windowGradients(n, data, n.zeroState(B), { loss: 'cross-entropy', scoredFrom: 1 }));
    expect(tf.memory().numTensors).toBe(before);
    expect(got.count).toBe(ref.count);
    expect(Math.abs(got.lossSum - ref.lossSum) / ref.lossSum).toBeLessThanOrEqual(1e-5);
    // The window kernels themselves agree to 1e-4 (native-kernel.spec.ts); the head adds rounding only.
    for (const [name, g] of ref.grads) expect(rel(got.grads.get(name) as Float32Array, g)).toBeLessThanOrEqual(1e-4);
    nets.forEach((n) => n.dispose());
  });

  it.each(['mse', 'sse'] as const)('Trainer, %s on dense data: 5 steps on the native kernel follow the tfjs path, leak-free', (loss) => {
    const [I, Hd, Od, S] = [3, 6, 2, 4];
    const run = (kernel: WindowKernel) => {
      const n = new RecurrentNetwork({ cell: { kind: 'gru', variant: 'reset-after' }, input: { kind: 'dense', size: I }, hidden: Hd, layers: 1, outputSize: Od }, new Rng(4), { kernel });
      const t = new Trainer({ net: n, data: denseData(S * 30, I, Od, S, 8), tbptt: { streams: S, window: 5, stride: 5, microBatch: 2 }, loss, optimizer: new Adam({ lr: 1e-2 }) });
      t.runStep(); // first-use allocations happen outside the count
      const before = tf.memory().numTensors;
      const losses = Array.from({ length: 5 }, () => t.runStep().loss);
      expect(tf.memory().numTensors).toBe(before);
      n.dispose();
      return { losses, params: t.params };
    };
    const got = run(native);
    const ref = run(selectKernel({ kernel: 'tfjs', log: () => undefined }));
    expect(rel(got.losses, ref.losses)).toBeLessThanOrEqual(1e-4);
    for (const [name, p] of ref.params) expect(rel(got.params.get(name) as Float32Array, p)).toBeLessThanOrEqual(1e-4);
  });
});
