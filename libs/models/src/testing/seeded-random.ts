/**
 * Deterministic random numbers for tests: mulberry32 (Tommy Ettinger's 32-bit
 * generator), small and good enough to fill test tensors reproducibly.
 */
import { gateCount, peepholeCount, RefCell, RefParams } from './ref-cell';

/** A generator of uniform numbers in [0, 1). */
export type Rng = () => number;

/** mulberry32 seeded with `seed` (any number; only its low 32 bits count). */
export function seededRandom(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` numbers uniform in [-scale, scale). @defaultValue scale = 1 */
export function randomArray(n: number, rng: Rng, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = (2 * rng() - 1) * scale;
  return out;
}

/**
 * Random parameters for `cell` with input size I and hidden size H, each entry
 * uniform in [-scale, scale).
 * @defaultValue scale = 1/√H — PyTorch's default initialisation for its RNN cells.
 */
export function randomParams(cell: RefCell, I: number, H: number, rng: Rng, scale = 1 / Math.sqrt(H)): RefParams {
  const rows = gateCount(cell) * H;
  const p: RefParams = {
    wIh: randomArray(rows * I, rng, scale),
    wHh: randomArray(rows * H, rng, scale),
    bIh: randomArray(rows, rng, scale),
    bHh: randomArray(rows, rng, scale),
  };
  // Drawn last, so the plain cells' parameters are unchanged by the variants' existence.
  const P = peepholeCount(cell);
  if (P > 0) p.wCh = randomArray(P * H * H, rng, scale);
  return p;
}
