/**
 * The conventions both references must share with PyTorch, stated directly on
 * one unit (B = I = H = T = 1) with zero weights and distinct biases, so a gate
 * order, a z convention or a reset placement that differs from the spec fails
 * here even if the two references agree with each other.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { gateCount, RefCell, RefParams } from './ref-cell';
import { referenceForward } from './reference-f64';
import { tapedWindow } from './taped-tf';

const sigmoid = (a: number): number => 1 / (1 + Math.exp(-a));

/** One step of one unit, through both references: [h', c'] from each. */
function oneStep(cell: RefCell, p: RefParams, x: number, h: number, c?: number): { f64: number[]; taped: number[] } {
  const P = p.wCh?.length ?? 0;
  const d = { T: 1, B: 1, I: 1, H: 1 };
  const c0 = c === undefined ? undefined : Float64Array.of(c);
  const ref = referenceForward(cell, p, d, Float64Array.of(x), Float64Array.of(h), c0);
  const f64 = [ref.hT[0], ...(ref.cT ? [ref.cT[0]] : [])];
  const taped = tf.tidy(() => {
    const G = gateCount(cell);
    const w = tapedWindow(
      cell,
      {
        wIh: tf.tensor2d(Float32Array.from(p.wIh), [G, 1]),
        wHh: tf.tensor2d(Float32Array.from(p.wHh), [G, 1]),
        bIh: tf.tensor1d(Float32Array.from(p.bIh)),
        bHh: tf.tensor1d(Float32Array.from(p.bHh)),
        wCh: p.wCh ? tf.tensor2d(Float32Array.from(p.wCh), [P, 1]) : undefined,
      },
      tf.tensor3d([[[x]]]),
      tf.tensor2d([[h]]),
      c === undefined ? undefined : tf.tensor2d([[c]]),
    );
    return [w.hT.dataSync()[0], ...(w.cT ? [w.cT.dataSync()[0]] : [])];
  });
  return { f64, taped };
}

function expectBoth(got: { f64: number[]; taped: number[] }, expected: number[]): void {
  got.f64.forEach((v, k) => expect(v).toBeCloseTo(expected[k], 12));
  got.taped.forEach((v, k) => expect(v).toBeCloseTo(expected[k], 6));
  expect(got.f64.length).toBe(expected.length);
  expect(got.taped.length).toBe(expected.length);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('cell conventions', () => {
  it('rnn: h\' = act(W_ih x + b_ih + W_hh h + b_hh)', () => {
    const p = { wIh: Float64Array.of(0.5), wHh: Float64Array.of(-0.25), bIh: Float64Array.of(0.125), bHh: Float64Array.of(-0.375) };
    const a = 0.5 * 0.8 + 0.125 - 0.25 * 0.4 - 0.375;
    expectBoth(oneStep({ cell: 'rnn', activation: 'tanh' }, p, 0.8, 0.4), [Math.tanh(a)]);
    expectBoth(oneStep({ cell: 'rnn', activation: 'relu' }, p, 0.8, 0.4), [Math.max(a, 0)]);
    expectBoth(oneStep({ cell: 'rnn', activation: 'relu' }, p, -0.8, 0.4), [0]);
  });

  it('lstm: gate rows are i, f, g, o and both biases add', () => {
    const [bi, bf, bg, bo] = [0.1, -0.7, 0.9, 0.4];
    const p = {
      wIh: new Float64Array(4),
      wHh: new Float64Array(4),
      bIh: Float64Array.of(bi, bf, bg, bo),
      bHh: Float64Array.of(0.05, 0.05, 0.05, 0.05),
    };
    const c0 = 0.6;
    const cNext = sigmoid(bf + 0.05) * c0 + sigmoid(bi + 0.05) * Math.tanh(bg + 0.05);
    const hNext = sigmoid(bo + 0.05) * Math.tanh(cNext);
    expectBoth(oneStep({ cell: 'lstm' }, p, 0.3, -0.2, c0), [hNext, cNext]);
  });

  it('lstm coupled gates: rows f, g, o and i = 1 − f', () => {
    const [bf, bg, bo] = [-0.7, 0.9, 0.4];
    const p = { wIh: new Float64Array(3), wHh: new Float64Array(3), bIh: Float64Array.of(bf, bg, bo), bHh: new Float64Array(3) };
    const c0 = 0.6;
    const f = sigmoid(bf);
    const cNext = f * c0 + (1 - f) * Math.tanh(bg);
    expectBoth(oneStep({ cell: 'lstm', coupledGates: true }, p, 0.3, -0.2, c0), [sigmoid(bo) * Math.tanh(cNext), cNext]);
  });

  it('lstm peepholes: W_ch rows i, f, o read C_{t−1} (the output gate too), no bias; with coupled gates rows f, o', () => {
    const [bi, bf, bg, bo] = [0.1, -0.7, 0.9, 0.4];
    const [wi, wf, wo] = [0.5, -1.5, 2];
    const c0 = 0.6;
    const p = { wIh: new Float64Array(4), wHh: new Float64Array(4), bIh: Float64Array.of(bi, bf, bg, bo), bHh: new Float64Array(4), wCh: Float64Array.of(wi, wf, wo) };
    const cNext = sigmoid(bf + wf * c0) * c0 + sigmoid(bi + wi * c0) * Math.tanh(bg);
    expectBoth(oneStep({ cell: 'lstm', peepholes: true }, p, 0.3, -0.2, c0), [sigmoid(bo + wo * c0) * Math.tanh(cNext), cNext]);
    const q = { wIh: new Float64Array(3), wHh: new Float64Array(3), bIh: Float64Array.of(bf, bg, bo), bHh: new Float64Array(3), wCh: Float64Array.of(wf, wo) };
    const f = sigmoid(bf + wf * c0);
    const cq = f * c0 + (1 - f) * Math.tanh(bg);
    expectBoth(oneStep({ cell: 'lstm', peepholes: true, coupledGates: true }, q, 0.3, -0.2, c0), [sigmoid(bo + wo * c0) * Math.tanh(cq), cq]);
  });

  describe('gru: gate rows r, z, n; h\' = (1 − z)⊙n + z⊙h', () => {
    const [br, bz, bin, bhn] = [0.3, -0.4, 0.2, 0.7];
    const p = {
      wIh: new Float64Array(3),
      wHh: new Float64Array(3),
      bIh: Float64Array.of(br, bz, bin),
      bHh: Float64Array.of(0, 0, bhn),
    };
    const h = 0.6;
    const r = sigmoid(br);
    const z = sigmoid(bz);

    it('reset-after: r scales W_hn h + b_hn, b_hn included', () => {
      const n = Math.tanh(bin + r * bhn);
      expectBoth(oneStep({ cell: 'gru', variant: 'reset-after' }, p, 0.5, h), [(1 - z) * n + z * h]);
    });

    it('reset-before: r scales h inside W_hn (r⊙h); b_hn stays outside', () => {
      const n = Math.tanh(bin + bhn);
      expectBoth(oneStep({ cell: 'gru', variant: 'reset-before' }, p, 0.5, h), [(1 - z) * n + z * h]);
    });

    it('reset-before: W_hn multiplies r⊙h', () => {
      const withWhn = { ...p, wHh: Float64Array.of(0, 0, 1.5) };
      const n = Math.tanh(bin + 1.5 * r * h + bhn);
      expectBoth(oneStep({ cell: 'gru', variant: 'reset-before' }, withWhn, 0.5, h), [(1 - z) * n + z * h]);
    });
  });
});
