import { Rng } from '@unroll/models';
import { accumulate, clipByGlobalNorm, gradientStats, layerOf, scale, zerosLike, type NamedArrays } from './gradients';
import { flowAtLags } from './trainer';
import { cloneArrays } from './testing';

/** Parameter names of a 2-layer token LSTM in RNNModel layout, with their sizes. */
const SHAPES = new Map<string, number>([
  ['encoder.weight', 10],
  ['rnn.weight_ih_l0', 8],
  ['rnn.weight_hh_l0', 8],
  ['rnn.bias_ih_l0', 4],
  ['rnn.bias_hh_l0', 4],
  ['rnn.weight_ih_l1', 8],
  ['rnn.weight_hh_l1', 8],
  ['rnn.bias_ih_l1', 4],
  ['rnn.bias_hh_l1', 4],
  ['decoder.weight', 6],
  ['decoder.bias', 3],
]);

function randomGrads(seed: number): NamedArrays {
  const rng = new Rng(seed);
  return new Map([...SHAPES].map(([name, n]) => [name, Float32Array.from({ length: n }, () => rng.uniform(-2, 2))]));
}

/** √(Σ x²) over the named parameters, in float64. */
function normOf(g: NamedArrays, names: string[]): number {
  let s = 0;
  for (const n of names) for (const x of g.get(n) as Float32Array) s += x * x;
  return Math.sqrt(s);
}

describe('layerOf', () => {
  it.each([
    ['encoder.weight', 'encoder'],
    ['rnn.weight_ih_l0', 'rnn.l0'],
    ['rnn.weight_hh_l0', 'rnn.l0'],
    ['rnn.bias_ih_l1', 'rnn.l1'],
    ['rnn.bias_hh_l12', 'rnn.l12'],
    ['rnn.weight_hh_l0_reverse', 'rnn.l0_reverse'],
    ['rnn.weight_ch_l1', 'rnn.l1'],
    ['rnn.weight_ch_l0_reverse', 'rnn.l0_reverse'],
    ['decoder.weight', 'decoder'],
    ['decoder.bias', 'decoder'],
  ])('%s → %s', (name, layer) => {
    expect(layerOf(name)).toBe(layer);
  });
});

describe('gradientStats', () => {
  it('measures the global norm and the norm of each layer', () => {
    const g = randomGrads(3);
    const stats = gradientStats(g);
    const all = [...SHAPES.keys()];
    expect(Math.abs(stats.norm - normOf(g, all))).toBeLessThanOrEqual(1e-12 * stats.norm);
    expect(Object.keys(stats.layerNorms).sort()).toEqual(['decoder', 'encoder', 'rnn.l0', 'rnn.l1']);
    const byLayer: Record<string, string[]> = {
      encoder: ['encoder.weight'],
      'rnn.l0': ['rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'rnn.bias_ih_l0', 'rnn.bias_hh_l0'],
      'rnn.l1': ['rnn.weight_ih_l1', 'rnn.weight_hh_l1', 'rnn.bias_ih_l1', 'rnn.bias_hh_l1'],
      decoder: ['decoder.weight', 'decoder.bias'],
    };
    for (const [layer, names] of Object.entries(byLayer)) {
      expect([layer, Math.abs(stats.layerNorms[layer] - normOf(g, names)) <= 1e-12]).toEqual([layer, true]);
    }
    expect(stats.finite).toBe(true);
  });

  it('a 3-4-5 case', () => {
    const stats = gradientStats(
      new Map([
        ['rnn.weight_hh_l0', Float32Array.of(3)],
        ['decoder.bias', Float32Array.of(0, 4)],
      ]),
    );
    expect(stats.norm).toBe(5);
    expect(stats.layerNorms).toEqual({ 'rnn.l0': 3, decoder: 4 });
  });

  it('calls NaN and ±Inf not finite', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const g = randomGrads(4);
      (g.get('rnn.bias_hh_l1') as Float32Array)[2] = bad;
      expect(gradientStats(g).finite).toBe(false);
    }
  });

  it('keeps huge but finite float32 gradients finite (squares summed in float64)', () => {
    const g = randomGrads(5);
    (g.get('decoder.weight') as Float32Array).fill(3e38);
    const stats = gradientStats(g);
    expect(stats.finite).toBe(true);
    expect(stats.norm).toBeCloseTo(3e38 * Math.sqrt(6), -32);
  });
});

describe('clipByGlobalNorm', () => {
  it('scales by clipNorm / (‖g‖ + 1e−6) when ‖g‖ exceeds it, as clip_grad_norm_', () => {
    const g = randomGrads(6);
    const before = cloneArrays(g);
    const norm = gradientStats(g).norm;
    const factor = clipByGlobalNorm(g, norm, 0.5);
    expect(factor).toBeCloseTo(0.5 / (norm + 1e-6), 12);
    for (const [name, a] of g) {
      const b = before.get(name) as Float32Array;
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i] * factor)).toBeLessThanOrEqual(1e-7);
    }
    expect(gradientStats(g).norm).toBeCloseTo(0.5, 5);
  });

  it('leaves the gradient alone at or below the threshold, or without one', () => {
    const g = randomGrads(7);
    const before = cloneArrays(g);
    const norm = gradientStats(g).norm;
    expect(clipByGlobalNorm(g, norm, norm)).toBe(1);
    expect(clipByGlobalNorm(g, norm, 10 * norm)).toBe(1);
    expect(clipByGlobalNorm(g, norm, undefined)).toBe(1);
    expect(g).toEqual(before);
  });
});

describe('accumulate, scale, zerosLike', () => {
  it('sums parameter by parameter', () => {
    const acc = zerosLike(SHAPES);
    const a = randomGrads(8);
    const b = randomGrads(9);
    accumulate(acc, a);
    accumulate(acc, b);
    scale(acc, 0.5);
    const x = acc.get('rnn.weight_hh_l1') as Float32Array;
    const xa = a.get('rnn.weight_hh_l1') as Float32Array;
    const xb = b.get('rnn.weight_hh_l1') as Float32Array;
    for (let i = 0; i < x.length; i++) expect(x[i]).toBeCloseTo((xa[i] + xb[i]) / 2, 6);
  });

  it('refuses a missing or mis-sized gradient', () => {
    const acc = zerosLike(SHAPES);
    const g = randomGrads(10);
    g.delete('decoder.bias');
    expect(() => accumulate(acc, g)).toThrow(/gradient for decoder\.bias is missing/);
    const h = randomGrads(10);
    h.set('decoder.bias', new Float32Array(2));
    expect(() => accumulate(zerosLike(SHAPES), h)).toThrow(/decoder\.bias has 2 values, expected 3/);
  });
});

describe('flowAtLags', () => {
  it('reads lag 1 at the last step, then lags 2, 4, 8, … back from it', () => {
    const perStep = Float64Array.from({ length: 10 }, (_, t) => 100 + t);
    expect(flowAtLags(perStep)).toEqual([
      { lag: 1, norm: 109 },
      { lag: 2, norm: 108 },
      { lag: 4, norm: 106 },
      { lag: 8, norm: 102 },
    ]);
  });

  it('reaches the first step when T is a power of two', () => {
    const perStep = Float64Array.from({ length: 8 }, (_, t) => t);
    expect(flowAtLags(perStep).map((p) => [p.lag, p.norm])).toEqual([
      [1, 7],
      [2, 6],
      [4, 4],
      [8, 0],
    ]);
    expect(flowAtLags(Float64Array.of(3))).toEqual([{ lag: 1, norm: 3 }]);
  });
});
