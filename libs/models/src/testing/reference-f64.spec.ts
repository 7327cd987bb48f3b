import { finiteDifference } from './finite-difference';
import { ALL_REF_CELLS, LSTM_VARIANT_CELLS, RefCell, RefDims, RefParams, refCellName } from './ref-cell';
import { referenceBackward, referenceForward } from './reference-f64';
import { relError } from './rel-error';
import { randomArray, randomParams, seededRandom } from './seeded-random';

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}

describe('referenceBackward vs central finite differences of referenceForward (float64)', () => {
  const d: RefDims = { T: 4, B: 2, I: 3, H: 5 };

  describe.each([...ALL_REF_CELLS, ...LSTM_VARIANT_CELLS].map((cell) => [refCellName(cell), cell] as [string, RefCell]))('%s', (_name, cell) => {
    const rng = seededRandom(20240611);
    const lstm = cell.cell === 'lstm';
    // scale 0.5 keeps the gates away from saturation, so every path carries gradient.
    const p = randomParams(cell, d.I, d.H, rng, 0.5);
    const x = randomArray(d.T * d.B * d.I, rng);
    const h0 = randomArray(d.B * d.H, rng, 0.5);
    const c0 = lstm ? randomArray(d.B * d.H, rng, 0.5) : undefined;
    const dY = randomArray(d.T * d.B * d.H, rng);
    const dHT = randomArray(d.B * d.H, rng);
    const dCT = lstm ? randomArray(d.B * d.H, rng) : undefined;

    function loss(q: RefParams, xv: Float64Array, h: Float64Array, c: Float64Array | undefined): number {
      const f = referenceForward(cell, q, d, xv, h, c);
      let l = dot(dY, f.y) + dot(dHT, f.hT);
      if (dCT !== undefined && f.cT !== undefined) l += dot(dCT, f.cT);
      return l;
    }

    const back = referenceBackward(cell, p, d, x, h0, c0, dY, dHT, dCT);

    it('returns the forward outputs alongside the gradients', () => {
      const f = referenceForward(cell, p, d, x, h0, c0);
      expect(back.y).toEqual(f.y);
      expect(back.hT).toEqual(f.hT);
      expect(back.cT).toEqual(f.cT);
      expect(back.dC0 !== undefined).toBe(lstm);
    });

    const cases: [string, () => [Float64Array, Float64Array]][] = [
      ['dX', () => [back.dX, finiteDifference((v) => loss(p, v, h0, c0), x)]],
      ['dH0', () => [back.dH0, finiteDifference((v) => loss(p, x, v, c0), h0)]],
      ['dWIh', () => [back.dWIh, finiteDifference((v) => loss({ ...p, wIh: v }, x, h0, c0), p.wIh)]],
      ['dWHh', () => [back.dWHh, finiteDifference((v) => loss({ ...p, wHh: v }, x, h0, c0), p.wHh)]],
      ['dBIh', () => [back.dBIh, finiteDifference((v) => loss({ ...p, bIh: v }, x, h0, c0), p.bIh)]],
      ['dBHh', () => [back.dBHh, finiteDifference((v) => loss({ ...p, bHh: v }, x, h0, c0), p.bHh)]],
    ];
    if (p.wCh !== undefined) {
      const wCh = p.wCh;
      cases.push(['dWCh', () => [back.dWCh ?? new Float64Array(0), finiteDifference((v) => loss({ ...p, wCh: v }, x, h0, c0), wCh)]]);
    }
    if (c0 !== undefined) {
      cases.push(['dC0', () => [back.dC0 ?? new Float64Array(0), finiteDifference((v) => loss(p, x, h0, v), c0)]]);
    }

    it.each(cases)('%s matches within 1e-6 relative', (_grad, compute) => {
      const [analytic, numeric] = compute();
      expect(analytic.length).toBe(numeric.length);
      expect(relError(analytic, numeric)).toBeLessThanOrEqual(1e-6);
    });
  });
});

describe('reference input validation', () => {
  const cell: RefCell = { cell: 'gru', variant: 'reset-after' };
  const d: RefDims = { T: 2, B: 1, I: 2, H: 3 };
  const p = randomParams(cell, d.I, d.H, seededRandom(1));

  it('names the field, the expected size and the size it got', () => {
    expect(() => referenceForward(cell, p, d, new Float64Array(3), new Float64Array(3))).toThrow(
      'reference: x must have [T, B, I] = [2, 1, 2] = 4 elements, got 3',
    );
    expect(() => referenceForward(cell, { ...p, wHh: new Float64Array(1) }, d, new Float64Array(4), new Float64Array(3))).toThrow(
      /wHh must have \[G·H, H\] = \[9, 3\] = 27 elements, got 1/,
    );
  });

  it('rejects a cell state for a cell that has none', () => {
    expect(() => referenceForward(cell, p, d, new Float64Array(4), new Float64Array(3), new Float64Array(3))).toThrow(
      'c0 is only meaningful for lstm',
    );
  });
});
