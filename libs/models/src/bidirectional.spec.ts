/**
 * Deep and bidirectional RecurrentNetwork, every cell kind and LSTM variant:
 * outputs and gradients against the float64 reference of the lecture's equations
 * (itself checked against finite differences here) and against tfjs autodiff of
 * the taped cells; names, shapes and carried state for every flag combination.
 */
import { tf } from './tf';
import { selectBackend } from './backend';
import { directions, parameterSpecs, RecurrentNetwork, type NetworkConfig } from './network';
import { Rng } from './rng';
import type { CellConfig } from './cells';
import {
  ALL_REF_CELLS,
  finiteDifference,
  LSTM_VARIANT_CELLS,
  randomArray,
  randomParams,
  refCellName,
  referenceDeepBackward,
  referenceDeepForward,
  relError,
  seededRandom,
  tapedDeepNetwork,
  type RefCell,
  type RefParams,
} from './testing';

const CELLS: readonly RefCell[] = [...ALL_REF_CELLS, ...LSTM_VARIANT_CELLS];

function toCell(c: RefCell): CellConfig {
  if (c.cell === 'rnn') return { kind: 'rnn', activation: c.activation };
  if (c.cell === 'gru') return { kind: 'gru', variant: c.variant };
  return { kind: 'lstm', peepholes: c.peepholes, coupledGates: c.coupledGates };
}

const f32 = (a: Float64Array) => Float32Array.from(a);
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
const round = (a: Float64Array) => f64(f32(a));
const FIELDS = [
  ['wIh', 'weight_ih'],
  ['wHh', 'weight_hh'],
  ['bIh', 'bias_ih'],
  ['bHh', 'bias_hh'],
  ['wCh', 'weight_ch'],
] as const;

/** Random float32-representable parameters for L layers × D directions. */
function deepParams(cell: RefCell, L: number, D: number, I: number, H: number, rng: () => number, scale?: number): RefParams[][] {
  return Array.from({ length: L }, (_, l) =>
    Array.from({ length: D }, () => {
      const p = randomParams(cell, l === 0 ? I : D * H, H, rng, scale);
      return { wIh: round(p.wIh), wHh: round(p.wHh), bIh: round(p.bIh), bHh: round(p.bHh), ...(p.wCh ? { wCh: round(p.wCh) } : {}) };
    }),
  );
}

describe('float64 deep bidirectional reference vs central finite differences', () => {
  const d = { T: 3, B: 2, I: 2, H: 2 };
  describe.each(CELLS.map((c) => [refCellName(c), c] as const))('%s', (_name, cell) => {
    it('every parameter of both layers and directions, and dX, within 1e-6 relative', () => {
      const rng = seededRandom(99);
      const params = deepParams(cell, 2, 2, d.I, d.H, rng, 0.5);
      const x = randomArray(d.T * d.B * d.I, rng);
      const dTop = randomArray(d.T * d.B * 2 * d.H, rng);
      const loss = (ps: RefParams[][], xv: Float64Array) => referenceDeepForward(cell, ps, d, xv).top.reduce((s, v, k) => s + v * dTop[k], 0);
      const back = referenceDeepBackward(cell, params, d, x, dTop);
      expect(relError(back.dX, finiteDifference((v) => loss(params, v), x))).toBeLessThanOrEqual(1e-6);
      params.forEach((layer, l) =>
        layer.forEach((p, dir) => {
          for (const [field] of FIELDS) {
            const value = p[field];
            if (value === undefined) continue;
            const grad = back.grads[l][dir][`d${field[0].toUpperCase()}${field.slice(1)}` as 'dWIh'] as Float64Array;
            const numeric = finiteDifference((v) => loss(params.map((ly, i) => ly.map((q, j) => (i === l && j === dir ? { ...q, [field]: v } : q))), x), value);
            expect([l, dir, field, relError(grad, numeric) <= 1e-6]).toEqual([l, dir, field, true]);
          }
        }),
      );
    });
  });
});

describe('RecurrentNetwork, deep bidirectional (cpu)', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  const [T, B, I, H, L] = [4, 2, 3, 3, 2];

  describe.each(CELLS.map((c) => [refCellName(c), c] as const))('%s', (_name, cell) => {
    it('top output and every rnn gradient match the float64 reference and tfjs autodiff within 1e-4; no tensor leaks', () => {
      const rng = seededRandom(T * 7 + H);
      const params = deepParams(cell, L, 2, I, H, rng);
      const x = round(randomArray(T * B * I, rng));
      const dTop = round(randomArray(T * B * 2 * H, rng));
      const ref = referenceDeepBackward(cell, params, { T, B, I, H }, x, dTop);

      const net = new RecurrentNetwork({ cell: toCell(cell), input: { kind: 'dense', size: I }, hidden: H, layers: L, outputSize: 1, bidirectional: true }, new Rng(1));
      const values = net.snapshot();
      params.forEach((layer, l) => layer.forEach((p, dir) => FIELDS.forEach(([f, name]) => p[f] && values.set(`rnn.${name}_l${l}${dir ? '_reverse' : ''}`, f32(p[f] as Float64Array)))));
      net.load(values);
      const rnnVars = [...net.params].filter(([n]) => n.startsWith('rnn.'));
      const before = tf.memory().numTensors;
      const dTopT = tf.tensor3d(f32(dTop), [T, B, 2 * H]);
      let top = new Float64Array(0);
      const { value, grads } = tf.variableGrads(() => {
        const out = net.forward({ kind: 'dense', x: f32(x), T, B }, net.zeroState(B));
        top = f64(out.top.dataSync());
        return tf.sum(tf.mul(out.top, dTopT)) as tf.Scalar;
      }, rnnVars.map(([, v]) => v));
      // Taped autodiff of the same network, with the same weights as plain tensors.
      const tapedGrads = tf.tidy(() => {
        const tp = params.map((layer) => layer.map((p) => ({ wIh: tf.tensor2d(f32(p.wIh), [p.bIh.length, p.wIh.length / p.bIh.length]), wHh: tf.tensor2d(f32(p.wHh), [p.bIh.length, H]), bIh: tf.tensor1d(f32(p.bIh)), bHh: tf.tensor1d(f32(p.bHh)), wCh: p.wCh ? tf.tensor2d(f32(p.wCh), [p.wCh.length / H, H]) : undefined })));
        const flat = tp.flatMap((layer) => layer.flatMap((p) => [p.wIh, p.wHh, p.bIh, p.bHh, ...(p.wCh ? [p.wCh] : [])]));
        const xt = tf.tensor3d(f32(x), [T, B, I]);
        const g = tf.grads((...a: tf.Tensor[]) => {
          let k = 0;
          const rebuilt = tp.map((layer) => layer.map((p) => ({ wIh: a[k++] as tf.Tensor2D, wHh: a[k++] as tf.Tensor2D, bIh: a[k++] as tf.Tensor1D, bHh: a[k++] as tf.Tensor1D, wCh: p.wCh ? (a[k++] as tf.Tensor2D) : undefined })));
          return tf.sum(tf.mul(tapedDeepNetwork(cell, rebuilt, xt, H), dTopT)) as tf.Scalar;
        })(flat);
        return g;
      });
      const taped = tapedGrads.map((t) => f64(t.dataSync()));
      tf.dispose(tapedGrads);
      expect(relError(top, ref.top)).toBeLessThanOrEqual(1e-5);
      let k = 0;
      params.forEach((layer, l) =>
        layer.forEach((p, dir) =>
          FIELDS.forEach(([f, name]) => {
            if (!p[f]) return;
            const pname = `rnn.${name}_l${l}${dir ? '_reverse' : ''}`;
            const got = f64(grads[net.param(pname).name].dataSync());
            const want = ref.grads[l][dir][`d${f[0].toUpperCase()}${f.slice(1)}` as 'dWIh'] as Float64Array;
            expect([pname, relError(got, want) <= 1e-4, relError(got, taped[k++]) <= 1e-4]).toEqual([pname, true, true]);
          }),
        ),
      );
      tf.dispose([value, dTopT, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
    });
  });
});

describe('RecurrentNetwork: names, shapes and carry for every flag combination', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  const [T, B, I, H, O] = [3, 2, 3, 2, 4];
  const combos = CELLS.flatMap((c) => [false, true].flatMap((bidirectional) => [1, 2].map((layers) => [refCellName(c), bidirectional, layers, c] as const)));

  it.each(combos)('%s bidirectional=%s layers=%i', (_name, bidirectional, layers, cell) => {
    const cfg: NetworkConfig = { cell: toCell(cell), input: { kind: 'dense', size: I }, hidden: H, layers, outputSize: O, bidirectional };
    const D = directions(cfg);
    const G = cell.cell === 'rnn' ? 1 : cell.cell === 'gru' ? 3 : cell.coupledGates ? 3 : 4;
    const P = cell.cell === 'lstm' && cell.peepholes ? (cell.coupledGates ? 2 : 3) : 0;
    const expected = [];
    for (let l = 0; l < layers; l++) {
      for (const sfx of D === 2 ? ['', '_reverse'] : ['']) {
        expected.push({ name: `rnn.weight_ih_l${l}${sfx}`, shape: [G * H, l === 0 ? I : D * H] });
        expected.push({ name: `rnn.weight_hh_l${l}${sfx}`, shape: [G * H, H] });
        expected.push({ name: `rnn.bias_ih_l${l}${sfx}`, shape: [G * H] });
        expected.push({ name: `rnn.bias_hh_l${l}${sfx}`, shape: [G * H] });
        if (P) expected.push({ name: `rnn.weight_ch_l${l}${sfx}`, shape: [P * H, H] });
      }
    }
    expected.push({ name: 'decoder.weight', shape: [O, D * H] }, { name: 'decoder.bias', shape: [O] });
    expect(parameterSpecs(cfg)).toEqual(expected);

    const net = new RecurrentNetwork(cfg, new Rng(3));
    const state = net.zeroState(B);
    expect(state.length).toBe(layers * D);
    const before = tf.memory().numTensors;
    const x = f32(randomArray(T * B * I, seededRandom(5)));
    let out = { shape: [0], carry: state };
    tf.tidy(() => {
      const o = net.forward({ kind: 'dense', x, T, B }, state);
      out = { shape: o.top.shape, carry: o.carry };
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(out.shape).toEqual([T, B, D * H]);
    expect(out.carry.length).toBe(layers * D);
    if (!bidirectional) expect(out.carry.some((s) => s.h.some((v) => v !== 0))).toBe(true);
    for (const s of out.carry) {
      expect(s.h.length).toBe(B * H);
      expect(s.c !== undefined).toBe(cell.cell === 'lstm');
      // Bidirectional: nothing crosses a window boundary, so the carry is zero.
      if (bidirectional) expect([...s.h, ...(s.c ?? [])].every((v) => v === 0)).toBe(true);
    }
    net.dispose();
  });
});
