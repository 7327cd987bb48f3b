/**
 * The native window kernel against the independent float64 reference and against
 * the tfjs path, for every cell and variant (issue 5: relative error ≤ 1e-4 on
 * every gradient). Fails, saying how to build it, where the addon is not built (UNROLL_NATIVE=0 skips on purpose); CI builds it.
 */
import { describeNative } from '@unroll/kernels-native/testing';
import { loadNativeKernels } from '@unroll/kernels-native';
import { tf } from './tf';
import { selectBackend } from './backend';
import { recurrentLayer } from './window-op';
import { linearCrossEntropy } from './linear-cross-entropy';
import type { CellConfig } from './cells';
import { NativeGemm } from './native-gemm';
import { TfGemm } from './gemm';
import { NativeKernel, selectKernel, TfjsKernel, type WindowKernel } from './kernel';
import { ALL_REF_CELLS, LSTM_VARIANT_CELLS, randomArray, randomParams, referenceBackward, refCellName, relError, seededRandom, type RefCell } from './testing';

const load = loadNativeKernels();

function toCell(c: RefCell): CellConfig {
  if (c.cell === 'rnn') return { kind: 'rnn', activation: c.activation };
  if (c.cell === 'gru') return { kind: 'gru', variant: c.variant };
  return { kind: 'lstm', peepholes: c.peepholes, coupledGates: c.coupledGates };
}

const f32 = (a: Float64Array) => Float32Array.from(a);
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** Outputs and every gradient of L = Σ dY⊙y + Σ dHT⊙hT (+ Σ dCT⊙cT), through one kernel. */
function windowGrads(cell: RefCell, T: number, B: number, I: number, H: number, seed: number, kernel: WindowKernel) {
  const rng = seededRandom(seed);
  const round = (a: Float64Array) => f64(f32(a));
  const p = randomParams(cell, I, H, rng);
  const params = { wIh: round(p.wIh), wHh: round(p.wHh), bIh: round(p.bIh), bHh: round(p.bHh), ...(p.wCh ? { wCh: round(p.wCh) } : {}) };
  const x = round(randomArray(T * B * I, rng));
  const h0 = round(randomArray(B * H, rng, 0.5));
  const withC = cell.cell === 'lstm';
  const c0 = withC ? round(randomArray(B * H, rng, 0.5)) : undefined;
  const dY = round(randomArray(T * B * H, rng));
  const dHT = round(randomArray(B * H, rng));
  const dCT = withC ? round(randomArray(B * H, rng)) : undefined;
  const ref = referenceBackward(cell, params, { T, B, I, H }, x, h0, c0, dY, dHT, dCT);
  const G = params.bIh.length;
  const inputs = [
    tf.tensor3d(f32(x), [T, B, I]),
    tf.tensor2d(f32(params.wIh), [G, I]),
    tf.tensor2d(f32(params.wHh), [G, H]),
    tf.tensor1d(f32(params.bIh)),
    tf.tensor1d(f32(params.bHh)),
    tf.tensor2d(f32(h0), [B, H]),
    ...(c0 ? [tf.tensor2d(f32(c0), [B, H])] : []),
    ...(params.wCh ? [tf.tensor2d(f32(params.wCh), [params.wCh.length / H, H])] : []),
  ];
  const dYt = tf.tensor3d(f32(dY), [T, B, H]);
  const dHTt = tf.tensor2d(f32(dHT), [B, H]);
  const dCTt = dCT ? tf.tensor2d(f32(dCT), [B, H]) : undefined;
  let y = new Float64Array(0);
  const grads = tf.grads((...a: tf.Tensor[]) => {
    const out = recurrentLayer(toCell(cell), { wIh: a[1] as tf.Tensor2D, wHh: a[2] as tf.Tensor2D, bIh: a[3] as tf.Tensor1D, bHh: a[4] as tf.Tensor1D, wCh: a[7] as tf.Tensor2D | undefined }, a[0] as tf.Tensor3D, { h: a[5] as tf.Tensor2D, c: a[6] as tf.Tensor2D | undefined }, { kernel });
    y = f64(out.y.dataSync());
    let l = tf.add(tf.sum(tf.mul(out.y, dYt)), tf.sum(tf.mul(out.hT, dHTt)));
    if (out.cT && dCTt) l = tf.add(l, tf.sum(tf.mul(out.cT, dCTt)));
    return l as tf.Scalar;
  })(inputs);
  const got = grads.map((g) => f64(g.dataSync()));
  tf.dispose([...inputs, dYt, dHTt, ...(dCTt ? [dCTt] : []), ...grads]);
  return { ref, y, got };
}

const names = ['dX', 'dWIh', 'dWHh', 'dBIh', 'dBHh', 'dH0', 'dC0', 'dWCh'] as const;

describeNative('native window kernel', () => {
  const native = new NativeKernel((load as { ok: true; kernels: NativeKernel['kernels'] }).kernels, 'test');
  const tfjs = new TfjsKernel('test');

  beforeAll(async () => {
    await selectBackend('cpu');
  });

  describe.each(ALL_REF_CELLS.map((c) => [refCellName(c), c] as const))('%s', (_name, cell) => {
    it.each([
      [5, 3, 4, 6],
      [12, 2, 7, 3],
      [1, 4, 3, 5],
      [35, 4, 16, 32],
    ])('T=%i B=%i I=%i H=%i: outputs and gradients match the float64 reference and the tfjs path within 1e-4', (T, B, I, H) => {
      const before = tf.memory().numTensors;
      const n = windowGrads(cell, T, B, I, H, T * 31 + H, native);
      const t = windowGrads(cell, T, B, I, H, T * 31 + H, tfjs);
      expect(['y', relError(n.y, n.ref.y)]).toEqual(['y', expect.closeTo(0, 5)]);
      const expected = [n.ref.dX, n.ref.dWIh, n.ref.dWHh, n.ref.dBIh, n.ref.dBHh, n.ref.dH0, n.ref.dC0];
      expect(n.got.length).toBe(cell.cell === 'lstm' ? 7 : 6);
      n.got.forEach((g, k) => {
        expect([names[k], relError(g, expected[k] as Float64Array) <= 1e-4]).toEqual([names[k], true]);
        expect([names[k], relError(g, t.got[k]) <= 1e-4]).toEqual([names[k], true]);
      });
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  // No native window for the LSTM variants: the TypeScript gate loop runs with the native BLAS products.
  describe.each(LSTM_VARIANT_CELLS.map((c) => [refCellName(c), c] as const))('%s (TypeScript gate loop, native products)', (_name, cell) => {
    it('gradients match the float64 reference within 1e-4', () => {
      expect(native.cell(toCell(cell)).constructor.name).toBe('LstmVariantCell');
      const before = tf.memory().numTensors;
      const n = windowGrads(cell, 6, 3, 4, 5, 11, native);
      const expected = [n.ref.dX, n.ref.dWIh, n.ref.dWHh, n.ref.dBIh, n.ref.dBHh, n.ref.dH0, n.ref.dC0, n.ref.dWCh];
      expect(n.got.length).toBe(cell.cell === 'lstm' && cell.peepholes ? 8 : 7);
      n.got.forEach((g, k) => expect([names[k], relError(g, expected[k] as Float64Array) <= 1e-4]).toEqual([names[k], true]));
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('NativeGemm agrees with TfGemm on mul (plain and transposed) and mulTN', () => {
    const rng = seededRandom(17);
    const ng = new NativeGemm(native.kernels);
    const tg = new TfGemm();
    const w = f32(randomArray(6 * 5, rng));
    const a = f32(randomArray(4 * 5, rng));
    const a6 = f32(randomArray(4 * 6, rng));
    const pairs: [Float32Array, Float32Array][] = [];
    for (const [arr, tr] of [[a6, false], [a, true]] as const) {
      const mn = ng.matrix(w, 6, 5, tr);
      const mt = tg.matrix(w, 6, 5, tr);
      expect([mn.rows, mn.cols]).toEqual([mt.rows, mt.cols]);
      pairs.push([ng.mul(arr, 4, mn), tg.mul(arr, 4, mt)]);
      ng.release(mn);
      tg.release(mt);
    }
    pairs.push([ng.mulTN(a, 4, 5, a6, 6), tg.mulTN(a, 4, 5, a6, 6)]);
    for (const [x, y] of pairs) expect(relError(x, y)).toBeLessThan(1e-6);
    expect(() => ng.mul(a, 3, ng.matrix(w, 6, 5))).toThrow(/mul expects A of 3×6/);
  });
});

describeNative('native output head', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('linearXent gives the loss and gradients of linearCrossEntropy (tfjs) within 1e-5', () => {
    const kernels = (load as { ok: true; kernels: NativeKernel['kernels'] }).kernels;
    const [N, H, V] = [23, 9, 11];
    const rng = seededRandom(5);
    const h = f32(randomArray(N * H, rng));
    const w = f32(randomArray(V * H, rng));
    const b = f32(randomArray(V, rng));
    const targets = Int32Array.from({ length: N }, (_, i) => (i * 7) % V);
    const [dh, dw, db] = [new Float32Array(N * H), new Float32Array(V * H), new Float32Array(V)];
    const scale = 1 / N;
    const loss = kernels.binding.linearXent(N, H, V, h, w, b, targets, scale, new Float32Array(N * V), dh, dw, db);
    const ts = [tf.tensor2d(h, [N, H]), tf.tensor2d(w, [V, H]), tf.tensor1d(b)];
    const { value, grads } = tf.valueAndGrads((...a: tf.Tensor[]) => tf.mul(linearCrossEntropy(a[0] as tf.Tensor2D, a[1] as tf.Tensor2D, a[2] as tf.Tensor1D, targets), scale) as tf.Scalar)(ts);
    expect(loss * scale).toBeCloseTo(value.dataSync()[0], 5);
    [dh, dw, db].forEach((g, k) => expect(relError(g, grads[k].dataSync())).toBeLessThan(1e-5));
    tf.dispose([...ts, value, ...grads]);
  });
});

describe('selectKernel', () => {
  it("'tfjs' always gives the tfjs path", () => {
    const k = selectKernel({ kernel: 'tfjs', log: () => undefined });
    expect(k.name).toBe('tfjs');
    expect(k.reason).toMatch(/requested/);
  });

  it("'auto' gives native exactly when the addon loads, and says why", () => {
    const k = selectKernel({ kernel: 'auto', log: () => undefined });
    expect(k.name).toBe(load.ok ? 'native' : 'tfjs');
    expect(k.reason).toMatch(load.ok ? /native addon loaded.*OpenBLAS.*BLAS thread/ : /unavailable/);
  });
});
