/**
 * Small generated tasks, made from a seeded uniform source `random()` in [0, 1), so
 * a spec's seed alone fixes the data:
 *
 *   two spirals   points (x, y) on two interleaved spirals, class 0 or 1, with Gaussian
 *                 noise of standard deviation `noise` (a plain one-to-one classifier)
 *   digit strings a source of `digits` random digits and its transform: `reverse`
 *                 ("4071" → "1704") or `add` ("407+915" → "1322", the sum written
 *                 with digits + 1 digits, zero-padded)
 *   adding        Hochreiter & Schmidhuber's adding problem: `length` steps of
 *                 (value ~ U(0, 1), marker); exactly two markers are 1, one in each
 *                 half, and the target is the sum of the two marked values
 */
export type Random = () => number;

export interface SpiralPoint {
  x: number;
  y: number;
  label: number;
}

/** Standard normal by Box–Muller. */
export function gaussian(random: Random): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** `count` points, alternating classes, `turns` turns per spiral. */
export function twoSpirals(count: number, noise: number, random: Random, turns = 1): SpiralPoint[] {
  return Array.from({ length: count }, (_, i) => {
    const label = i % 2;
    const r = random();
    const angle = r * turns * 2 * Math.PI + label * Math.PI;
    return { x: r * Math.cos(angle) + noise * gaussian(random), y: r * Math.sin(angle) + noise * gaussian(random), label };
  });
}

export type DigitOperation = 'reverse' | 'add';

export interface DigitExample {
  source: string;
  target: string;
}

function randomDigits(n: number, random: Random): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(Math.floor(random() * 10));
  return s;
}

export function digitStrings(count: number, digits: number, operation: DigitOperation, random: Random): DigitExample[] {
  return Array.from({ length: count }, () => {
    if (operation === 'reverse') {
      const source = randomDigits(digits, random);
      return { source, target: [...source].reverse().join('') };
    }
    const a = randomDigits(digits, random);
    const b = randomDigits(digits, random);
    return { source: `${a}+${b}`, target: String(Number(a) + Number(b)).padStart(digits + 1, '0') };
  });
}

export interface AddingExample {
  /** [length × 2]: (value, marker) per step. */
  inputs: Float32Array;
  target: number;
}

export function addingProblem(count: number, length: number, random: Random): AddingExample[] {
  if (!Number.isInteger(length) || length < 2) throw new RangeError(`adding problem length must be an integer ≥ 2, got ${length}`);
  const half = Math.floor(length / 2);
  return Array.from({ length: count }, () => {
    const inputs = new Float32Array(length * 2);
    for (let t = 0; t < length; t++) inputs[2 * t] = random();
    const first = Math.floor(random() * half);
    const second = half + Math.floor(random() * (length - half));
    inputs[2 * first + 1] = 1;
    inputs[2 * second + 1] = 1;
    return { inputs, target: inputs[2 * first] + inputs[2 * second] };
  });
}
