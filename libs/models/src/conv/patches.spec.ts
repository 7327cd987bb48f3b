import { tf } from '../tf';
import { randomArray, relError, seededRandom } from '../testing';
import { filterMatrix, im2col } from './im2col';
import { col2imArray, filterToMatrix, im2colArray, im2colInto, matrixToFilter } from './patches';
import { BufferPool } from './scratch';

describe('im2col and col2im on arrays', () => {
  beforeAll(() => tf.setBackend('cpu'));
  const rng = seededRandom(42);
  const s = { N: 2, Hh: 4, Ww: 5, C: 3 };
  const x = Float32Array.from(randomArray(2 * 4 * 5 * 3, rng));

  it.each([
    [3, 3],
    [2, 3],
    [5, 5],
    [1, 1],
  ])('%i×%i: im2colArray equals the tfjs im2col, and filterToMatrix its filterMatrix', (kh, kw) => {
    const k = { kh, kw };
    const want = tf.tidy(() => im2col(tf.tensor4d(x, [2, 4, 5, 3]), k).dataSync() as Float32Array);
    expect(relError(im2colArray(x, s, k), want)).toBe(0);
    const w = Float32Array.from(randomArray(6 * 3 * kh * kw, rng));
    const wantW = tf.tidy(() => filterMatrix(tf.tensor4d(w, [6, 3, kh, kw])).dataSync() as Float32Array);
    expect(relError(filterToMatrix(w, 6, 3, k), wantW)).toBe(0);
    expect(matrixToFilter(filterToMatrix(w, 6, 3, k), 6, 3, k)).toEqual(w);
  });

  it('col2im is the adjoint of im2col: ⟨im2col(x), p⟩ = ⟨x, col2im(p)⟩', () => {
    const k = { kh: 3, kw: 2 };
    const p = Float32Array.from(randomArray(2 * 4 * 5 * 6 * 3, rng));
    const lhs = im2colArray(x, s, k).reduce((acc, v, i) => acc + v * p[i], 0);
    const rhs = col2imArray(p, s, k).reduce((acc, v, i) => acc + v * x[i], 0);
    expect(Math.abs(lhs - rhs) / Math.abs(rhs)).toBeLessThan(1e-5);
  });

  it('im2colInto overwrites stale patches, padding included', () => {
    const k = { kh: 3, kw: 3 };
    const out = new Float32Array(2 * 4 * 5 * 9 * 3).fill(7);
    im2colInto(x, s, k, out);
    expect(out).toEqual(im2colArray(x, s, k));
  });
});

describe('BufferPool', () => {
  it('hands back a given array for the same length, zeroed on request, and keeps at most maxBytes', () => {
    const pool = new BufferPool(64);
    const a = pool.take(8);
    a.fill(3);
    pool.give(a, a);
    expect(pool.heldBytes).toBe(32);
    expect(pool.take(4)).not.toBe(a);
    const b = pool.take(8, true);
    expect(b).toBe(a);
    expect(Array.from(b)).toEqual(new Array(8).fill(0));
    pool.give(new Float32Array(20));
    expect(pool.heldBytes).toBe(0);
    pool.give(new Float32Array(16).subarray(0, 8));
    expect(pool.heldBytes).toBe(0);
  });
});
