/**
 * The fused ConvLSTM window op (conv-lstm-window.ts) against two independent
 * references: the float64 loops of reference-f64-conv-lstm.ts (forward, and every
 * gradient by central differences of it) and tfjs autodiff of the taped version
 * (conv-lstm-layer.ts) — on cpu and wasm, with the TfGemm and the native Gemm.
 *
 * Bounds: forward ≤ 1e-5 and gradients ≤ 1e-4 relative (relError, over the whole
 * tensor). Measured on these shapes (cpu and wasm, both Gemms): at most 1.5e-7 for the
 * forward, 4.6e-7 for any gradient against either reference.
 */
import { describeNative } from '@unroll/kernels-native/testing';
import { loadNativeKernels } from '@unroll/kernels-native';
import { tf } from '../tf';
import { selectBackend } from '../backend';
import { TfGemm, type Gemm } from '../gemm';
import { NativeGemm } from '../native-gemm';
import { finiteDifference, randomArray, relError, seededRandom } from '../testing';
import { convLstmTaped, type ConvLstmLayerOutput } from './conv-lstm-layer';
import { convLstmFused } from './conv-lstm-window';
import { convLstmStack, type ConvLstmConfig } from './conv-lstm-network';
import { referenceConvLstmForward, type ConvRefDims, type ConvRefParams } from './reference-f64-conv-lstm';

const FWD_TOL = 1e-5;
const GRAD_TOL = 1e-4;
const OPERANDS = ['x', 'wIh', 'wHh', 'bias', 'wC', 'h0', 'c0'] as const;
type Operand = (typeof OPERANDS)[number];

const round = (a: Float64Array) => Float64Array.from(Float32Array.from(a));
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
};

/** One layer's operands and the loss weights L = Σ dY⊙y + Σ dHT⊙h_T + Σ dCT⊙C_T, float32-representable. */
function problem(d: ConvRefDims, seed: number) {
  const rng = seededRandom(seed);
  const G = 4 * d.F;
  const n = d.B * d.Hh * d.Ww * d.F;
  const p: ConvRefParams = {
    wIh: round(randomArray(G * d.C * d.kh * d.kw, rng, 0.4)),
    wHh: round(randomArray(G * d.F * d.kh * d.kw, rng, 0.4)),
    bias: round(randomArray(G, rng, 0.3)),
    wC: round(randomArray(3 * d.F * d.Hh * d.Ww, rng, 0.5)),
  };
  const v = { x: round(randomArray(d.T * d.B * d.Hh * d.Ww * d.C, rng)), h0: round(randomArray(n, rng, 0.5)), c0: round(randomArray(n, rng, 0.5)) };
  const dY = round(randomArray(d.T * n, rng));
  const dHT = round(randomArray(n, rng));
  const dCT = round(randomArray(n, rng));
  const values: Record<Operand, Float64Array> = { ...p, ...v };
  const shapes: Record<Operand, number[]> = {
    x: [d.T, d.B, d.Hh, d.Ww, d.C],
    wIh: [G, d.C, d.kh, d.kw],
    wHh: [G, d.F, d.kh, d.kw],
    bias: [G],
    wC: [3, d.F, d.Hh, d.Ww],
    h0: [d.B, d.Hh, d.Ww, d.F],
    c0: [d.B, d.Hh, d.Ww, d.F],
  };
  const refLoss = (o: Record<Operand, Float64Array>) => {
    const f = referenceConvLstmForward({ wIh: o.wIh, wHh: o.wHh, bias: o.bias, wC: o.wC }, d, o.x, o.h0, o.c0);
    return dot(dY, f.y) + dot(dHT, f.hT) + dot(dCT, f.cT);
  };
  let fd: Record<Operand, Float64Array> | undefined;
  /** ∂L/∂operand by central differences of the float64 reference (computed once per problem). */
  const centralDifferences = () => {
    fd ??= Object.fromEntries(OPERANDS.map((k) => [k, finiteDifference((w) => refLoss({ ...values, [k]: w }), values[k])])) as Record<Operand, Float64Array>;
    return fd;
  };
  return { d, values, shapes, dY, dHT, dCT, ref: () => referenceConvLstmForward(p, d, v.x, v.h0, v.c0), centralDifferences };
}

type Problem = ReturnType<typeof problem>;
type Layer = (w: Parameters<typeof convLstmTaped>[0], x: tf.Tensor5D, init: Parameters<typeof convLstmTaped>[2]) => ConvLstmLayerOutput;

/** Forward outputs and every operand's gradient of the problem's loss through `layer`. */
function gradients(pr: Problem, layer: Layer) {
  const ts = OPERANDS.map((k) => tf.tensor(Float32Array.from(pr.values[k]), pr.shapes[k]));
  const w = (a: tf.Tensor[]) => ({ wIh: a[1] as tf.Tensor4D, wHh: a[2] as tf.Tensor4D, bias: a[3] as tf.Tensor1D, wC: a[4] as tf.Tensor4D });
  let y: Float32Array = new Float32Array(0);
  let hT: Float32Array = new Float32Array(0);
  let cT: Float32Array = new Float32Array(0);
  const grads = tf.grads((...a: tf.Tensor[]) => {
    const out = layer(w(a), a[0] as tf.Tensor5D, { h: a[5] as tf.Tensor4D, c: a[6] as tf.Tensor4D });
    y = out.y.dataSync() as Float32Array;
    hT = out.hT.dataSync() as Float32Array;
    cT = out.cT.dataSync() as Float32Array;
    const weigh = (t: tf.Tensor, v: Float64Array) => tf.sum(tf.mul(t, tf.tensor(Float32Array.from(v), t.shape)));
    return tf.addN([weigh(out.y, pr.dY), weigh(out.hT, pr.dHT), weigh(out.cT, pr.dCT)]) as tf.Scalar;
  })(ts);
  const g = Object.fromEntries(OPERANDS.map((k, i) => [k, Float32Array.from(grads[i].dataSync())])) as Record<Operand, Float32Array>;
  tf.dispose([...ts, ...grads]);
  return { y, hT, cT, g };
}

const SHAPES: [string, ConvRefDims][] = [
  ['3×3 kernel, 4×5 frames, 2 channels', { T: 3, B: 2, Hh: 4, Ww: 5, C: 2, F: 3, kh: 3, kw: 3 }],
  ['5×5 kernel, 5×7 frames', { T: 2, B: 2, Hh: 5, Ww: 7, C: 1, F: 2, kh: 5, kw: 5 }],
  ['2×3 kernel (uneven same padding), 3×4 frames', { T: 2, B: 1, Hh: 3, Ww: 4, C: 1, F: 2, kh: 2, kw: 3 }],
];
const PROBLEMS = SHAPES.map(([name, d], i) => [name, problem(d, 20150612 + i)] as const);

const stackCfg: ConvLstmConfig = { frame: { height: 3, width: 4, channels: 2 }, filters: 2, kernel: 3 };

/** Every test of the fused op, with one Gemm, on cpu and wasm. */
function fusedSuite(makeGemm: () => Gemm): void {
  describe.each(['cpu', 'wasm'] as const)('on %s', (backend) => {
    beforeAll(() => selectBackend(backend));
    afterAll(() => selectBackend('cpu'));

    describe.each(PROBLEMS)('%s', (_name, pr) => {
      const fused = (gemm: Gemm, carryAt?: number): Layer => (w, x, init) => convLstmFused(w, x, init, { gemm, carryAt });

      it('forward matches the float64 reference', () => {
        const got = gradients(pr, fused(makeGemm()));
        const ref = pr.ref();
        expect(relError(got.y, ref.y)).toBeLessThan(FWD_TOL);
        expect(relError(got.hT, ref.hT)).toBeLessThan(FWD_TOL);
        expect(relError(got.cT, ref.cT)).toBeLessThan(FWD_TOL);
      });

      it('every gradient matches float64 central differences and tfjs autodiff of the taped version', () => {
        const got = gradients(pr, fused(makeGemm()));
        const taped = gradients(pr, (w, x, init) => convLstmTaped(w, x, init));
        const fd = pr.centralDifferences();
        for (const k of OPERANDS) {
          expect([k, relError(got.g[k], fd[k]) <= GRAD_TOL]).toEqual([k, true]);
          expect([k, relError(got.g[k], taped.g[k]) <= GRAD_TOL]).toEqual([k, true]);
        }
      });

      it.each([0, pr.d.T - 1])('returns the state after step carryAt = %i, and leaks no tensor', (carryAt) => {
        const before = tf.memory().numTensors;
        const { carry } = tf.tidy(() => {
          const t = (k: Operand): tf.Tensor => tf.tensor(Float32Array.from(pr.values[k]), pr.shapes[k]);
          const x = t('x') as tf.Tensor5D;
          const w = { wIh: t('wIh') as tf.Tensor4D, wHh: t('wHh') as tf.Tensor4D, bias: t('bias') as tf.Tensor1D, wC: t('wC') as tf.Tensor4D };
          return { carry: fused(makeGemm(), carryAt)(w, x, { h: t('h0') as tf.Tensor4D, c: t('c0') as tf.Tensor4D }).carry };
        });
        gradients(pr, fused(makeGemm(), carryAt));
        expect(tf.memory().numTensors).toBe(before);
        const { B, Hh, Ww, C } = pr.d;
        const steps = carryAt + 1;
        const ref = referenceConvLstmForward({ wIh: pr.values.wIh, wHh: pr.values.wHh, bias: pr.values.bias, wC: pr.values.wC }, { ...pr.d, T: steps }, pr.values.x.subarray(0, steps * B * Hh * Ww * C), pr.values.h0, pr.values.c0);
        expect(relError(carry.h, ref.hT)).toBeLessThan(FWD_TOL);
        expect(relError(carry.c, ref.cT)).toBeLessThan(FWD_TOL);
      });
    });

    it('two stacked layers (convLstmStack): forward, carry of each layer and every parameter gradient match the references', () => {
      const { height: Hh, width: Ww, channels: C } = stackCfg.frame;
      const F = stackCfg.filters;
      const [T, B] = [3, 2];
      const rng = seededRandom(7);
      const G = 4 * F;
      const layerParams = (Ck: number): ConvRefParams => ({
        wIh: round(randomArray(G * Ck * 9, rng, 0.4)),
        wHh: round(randomArray(G * F * 9, rng, 0.4)),
        bias: round(randomArray(G, rng, 0.3)),
        wC: round(randomArray(3 * F * Hh * Ww, rng, 0.5)),
      });
      const params = [layerParams(C), layerParams(F)];
      const x = round(randomArray(T * B * Hh * Ww * C, rng));
      const n = B * Hh * Ww * F;
      const state = [0, 1].map(() => ({ h: round(randomArray(n, rng, 0.5)), c: round(randomArray(n, rng, 0.5)) }));
      const dTop = round(randomArray(T * n, rng));
      const dims = (Ck: number, steps = T): ConvRefDims => ({ T: steps, B, Hh, Ww, C: Ck, F, kh: 3, kw: 3 });
      const refStack = (ps: ConvRefParams[], steps = T) => {
        const y0 = referenceConvLstmForward(ps[0], dims(C, steps), x.subarray(0, steps * B * Hh * Ww * C), state[0].h, state[0].c);
        return [y0, referenceConvLstmForward(ps[1], dims(F, steps), y0.y, state[1].h, state[1].c)];
      };
      const names = ['weight_ih', 'weight_hh', 'bias', 'weight_c'] as const;
      const keys = ['wIh', 'wHh', 'bias', 'wC'] as const;
      const run = (implementation: 'fused' | 'taped') => {
        const vars = new Map<string, tf.Tensor>();
        params.forEach((p, k) => keys.forEach((key, j) => vars.set(`convlstm.${names[j]}_l${k}`, tf.tensor(Float32Array.from(p[key]), j === 2 ? [G] : j === 3 ? [3, F, Hh, Ww] : [G, k === 0 ? C : F, 3, 3]))));
        const order = [...vars.keys()];
        const xt = tf.tensor3d(Float32Array.from(x), [T, B, Hh * Ww * C]);
        const st = state.map((s) => ({ h: Float32Array.from(s.h), c: Float32Array.from(s.c) }));
        let top: Float32Array = new Float32Array(0);
        let carry: { h: Float32Array; c: Float32Array }[] = [];
        const grads = tf.grads((...a: tf.Tensor[]) => {
          const out = convLstmStack(stackCfg, 2, (name) => a[order.indexOf(name)], xt, st, { implementation, gemm: makeGemm(), carryAt: 1 });
          top = out.top.dataSync() as Float32Array;
          carry = out.carry;
          return tf.sum(tf.mul(out.top, tf.tensor3d(Float32Array.from(dTop), out.top.shape)));
        })(order.map((k) => vars.get(k) as tf.Tensor));
        const g = grads.map((t) => Float32Array.from(t.dataSync()));
        tf.dispose([...vars.values(), xt, ...grads]);
        return { top, carry, g };
      };
      const before = tf.memory().numTensors;
      const fused = run('fused');
      const taped = run('taped');
      expect(tf.memory().numTensors).toBe(before);
      const ref = refStack(params);
      expect(relError(fused.top, ref[1].y)).toBeLessThan(FWD_TOL);
      const refCarry = refStack(params, 2);
      fused.carry.forEach((c, k) => {
        expect(relError(c.h, refCarry[k].hT)).toBeLessThan(FWD_TOL);
        expect(relError(c.c, refCarry[k].cT)).toBeLessThan(FWD_TOL);
      });
      const fd = params.flatMap((p, k) => keys.map((key) => finiteDifference((v) => dot(dTop, refStack(params.map((q, j) => (j === k ? { ...q, [key]: v } : q)))[1].y), p[key])));
      fused.g.forEach((g, i) => {
        expect([i, relError(g, fd[i]) <= GRAD_TOL]).toEqual([i, true]);
        expect([i, relError(g, taped.g[i]) <= GRAD_TOL]).toEqual([i, true]);
      });
    });
  });
}

describe('convLstmFused with the TfGemm (products on the tfjs backend)', () => fusedSuite(() => new TfGemm()));

describeNative('convLstmFused with the native Gemm (OpenBLAS)', () => {
  const load = loadNativeKernels();
  fusedSuite(() => new NativeGemm((load as Extract<typeof load, { ok: true }>).kernels));
});
