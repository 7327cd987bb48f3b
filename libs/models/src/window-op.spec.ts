import { tf } from './tf';
import { selectBackend } from './backend';
import { recurrentLayer, WindowShapeError } from './window-op';
import type { CellConfig } from './cells';
import { ALL_REF_CELLS, LSTM_VARIANT_CELLS, randomArray, randomParams, referenceBackward, refCellName, relError, seededRandom, tapedWindow, type RefCell } from './testing';

function toCell(c: RefCell): CellConfig {
  if (c.cell === 'rnn') return { kind: 'rnn', activation: c.activation };
  if (c.cell === 'gru') return { kind: 'gru', variant: c.variant };
  return { kind: 'lstm', peepholes: c.peepholes, coupledGates: c.coupledGates };
}

const f32 = (a: Float64Array) => Float32Array.from(a);
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

interface Case {
  cell: RefCell;
  T: number;
  B: number;
  I: number;
  H: number;
}

/** Runs the fused op under tf.grads with L = Σ dY⊙y + Σ dHT⊙hT (+ Σ dCT⊙cT) and returns every gradient. */
function fusedGrads(c: Case, seed: number) {
  const rng = seededRandom(seed);
  const { T, B, I, H } = c;
  // Round to float32 first so the float64 reference sees exactly the same inputs.
  const round = (a: Float64Array) => f64(f32(a));
  const p = randomParams(c.cell, I, H, rng);
  const params = { wIh: round(p.wIh), wHh: round(p.wHh), bIh: round(p.bIh), bHh: round(p.bHh), ...(p.wCh ? { wCh: round(p.wCh) } : {}) };
  const x = round(randomArray(T * B * I, rng));
  const h0 = round(randomArray(B * H, rng, 0.5));
  const withC = c.cell.cell === 'lstm';
  const c0 = withC ? round(randomArray(B * H, rng, 0.5)) : undefined;
  const dY = round(randomArray(T * B * H, rng));
  const dHT = round(randomArray(B * H, rng));
  const dCT = withC ? round(randomArray(B * H, rng)) : undefined;
  const ref = referenceBackward(c.cell, params, { T, B, I, H }, x, h0, c0, dY, dHT, dCT);

  const G = params.bIh.length;
  const tensors = [
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
  const objective = (out: { y: tf.Tensor; hT: tf.Tensor; cT?: tf.Tensor }) => {
    let l = tf.add(tf.sum(tf.mul(out.y, dYt)), tf.sum(tf.mul(out.hT, dHTt)));
    if (out.cT && dCTt) l = tf.add(l, tf.sum(tf.mul(out.cT, dCTt)));
    return l as tf.Scalar;
  };
  const fused = tf.grads((...a: tf.Tensor[]) => {
    const out = recurrentLayer(toCell(c.cell), { wIh: a[1] as tf.Tensor2D, wHh: a[2] as tf.Tensor2D, bIh: a[3] as tf.Tensor1D, bHh: a[4] as tf.Tensor1D, wCh: a[7] as tf.Tensor2D | undefined }, a[0] as tf.Tensor3D, { h: a[5] as tf.Tensor2D, c: a[6] as tf.Tensor2D | undefined });
    return objective(out);
  })(tensors);
  const taped = tf.grads((...a: tf.Tensor[]) =>
    objective(tapedWindow(c.cell, { wIh: a[1] as tf.Tensor2D, wHh: a[2] as tf.Tensor2D, bIh: a[3] as tf.Tensor1D, bHh: a[4] as tf.Tensor1D, wCh: a[7] as tf.Tensor2D | undefined }, a[0] as tf.Tensor3D, a[5] as tf.Tensor2D, a[6] as tf.Tensor2D | undefined)),
  )(tensors);
  const read = (ts: tf.Tensor[]) => ts.map((t) => f64(t.dataSync()));
  const result = { ref, fused: read(fused), taped: read(taped) };
  tf.dispose([...tensors, dYt, dHTt, ...(dCTt ? [dCTt] : []), ...fused, ...taped]);
  return result;
}

const names = ['dX', 'dWIh', 'dWHh', 'dBIh', 'dBHh', 'dH0', 'dC0', 'dWCh'] as const;

describe.each(['cpu', 'wasm'] as const)('fused window op on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  describe.each([...ALL_REF_CELLS, ...LSTM_VARIANT_CELLS].map((c) => [refCellName(c), c] as const))('%s', (_name, cell) => {
    it.each([
      [5, 3, 4, 6],
      [12, 2, 7, 3],
      [1, 4, 3, 5],
    ])('T=%i B=%i I=%i H=%i: gradients match the float64 reference and tfjs autodiff within 1e-4', (T, B, I, H) => {
      const before = tf.memory().numTensors;
      const { ref, fused, taped } = fusedGrads({ cell, T, B, I, H }, T * 31 + H);
      const expected = [ref.dX, ref.dWIh, ref.dWHh, ref.dBIh, ref.dBHh, ref.dH0, ref.dC0, ref.dWCh];
      fused.forEach((g, k) => {
        const want = expected[k] as Float64Array;
        expect([names[k], relError(g, want)]).toEqual([names[k], expect.closeTo(0, 4)]);
        expect([names[k], relError(g, taped[k])]).toEqual([names[k], expect.closeTo(0, 4)]);
      });
      expect(fused.length).toBe(cell.cell === 'lstm' ? (cell.peepholes ? 8 : 7) : 6);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});

describe('fused window op: shape checks', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('refuses weights whose gate blocks do not match the cell', () => {
    const x = tf.zeros([2, 1, 3]) as tf.Tensor3D;
    const w = { wIh: tf.zeros([4, 3]) as tf.Tensor2D, wHh: tf.zeros([4, 2]) as tf.Tensor2D, bIh: tf.zeros([4]) as tf.Tensor1D, bHh: tf.zeros([4]) as tf.Tensor1D };
    expect(() => recurrentLayer({ kind: 'gru', variant: 'reset-after' }, w, x, { h: tf.zeros([1, 2]) as tf.Tensor2D })).toThrow(WindowShapeError);
    expect(() => recurrentLayer({ kind: 'lstm' }, { ...w, wIh: tf.zeros([8, 3]) as tf.Tensor2D, wHh: tf.zeros([8, 2]) as tf.Tensor2D }, x, { h: tf.zeros([1, 2]) as tf.Tensor2D })).toThrow(/initial c/);
    expect(() => recurrentLayer({ kind: 'rnn', activation: 'tanh' }, { ...w, wIh: tf.zeros([2, 3]) as tf.Tensor2D, wHh: tf.zeros([2, 2]) as tf.Tensor2D }, x, { h: tf.zeros([1, 2]) as tf.Tensor2D }, { carryAt: 2 })).toThrow(/carryAt/);
  });

  it('hands back the state after step carryAt without gradient', () => {
    const rng = seededRandom(3);
    const p = randomParams({ cell: 'lstm' }, 2, 3, rng);
    const w = { wIh: tf.tensor2d(f32(p.wIh), [12, 2]), wHh: tf.tensor2d(f32(p.wHh), [12, 3]), bIh: tf.tensor1d(f32(p.bIh)), bHh: tf.tensor1d(f32(p.bHh)) };
    const x = tf.tensor3d(f32(randomArray(4 * 1 * 2, rng)), [4, 1, 2]);
    const init = { h: tf.zeros([1, 3]) as tf.Tensor2D, c: tf.zeros([1, 3]) as tf.Tensor2D };
    const full = recurrentLayer({ kind: 'lstm' }, w, x, init, { carryAt: 1 });
    const prefix = recurrentLayer({ kind: 'lstm' }, w, tf.slice(x, [0, 0, 0], [2, 1, 2]) as tf.Tensor3D, init);
    expect(Array.from(full.carry.h)).toEqual(Array.from(prefix.hT.dataSync()));
    expect(Array.from(full.carry.c as Float32Array)).toEqual(Array.from((prefix.cT as tf.Tensor).dataSync()));
  });
});
