import { allocateFusionBuffer } from './bucket-plan';
import { InlineReducer } from './inline-reducer';
import { addFloat32, type Reducer } from './reducer';
import { WorkerPoolReducer } from './worker-pool-reducer';

/** `values` as little-endian bytes starting at an odd byte offset, as protobuf payloads often are. */
function unalignedBytes(values: number[]): Uint8Array {
  const raw = new Uint8Array(values.length * 4 + 1);
  Buffer.from(Float32Array.from(values).buffer).copy(raw, 1);
  return raw.subarray(1);
}

describe.each([
  ['InlineReducer', () => new InlineReducer(3)],
  ['WorkerPoolReducer', () => new WorkerPoolReducer(2)],
])('%s', (_name, make: () => Reducer) => {
  let reducer: Reducer;
  beforeEach(() => (reducer = make()));
  afterEach(() => reducer.close());

  it('adds an unaligned payload into a shared fusion buffer at an offset', async () => {
    const target = allocateFusionBuffer(8);
    target.set([1, 1, 1, 1, 1, 1, 1, 1]);
    await reducer.addInto(target, 2, unalignedBytes([0.5, 1.5, 2.5, 3.5, 4.5]));
    expect([...target]).toEqual([1, 1, 1.5, 2.5, 3.5, 4.5, 5.5, 1]);
  });

  it('runs many jobs concurrently on disjoint ranges', async () => {
    const target = allocateFusionBuffer(4096);
    const jobs = Array.from({ length: 16 }, (_, k) => reducer.addInto(target, k * 256, unalignedBytes(new Array<number>(256).fill(k))));
    await Promise.all(jobs);
    for (let k = 0; k < 16; k++) expect(target[k * 256 + 17]).toBe(k);
  });

  it('also works on a target that is not shared memory', async () => {
    const target = new Float32Array([1, 2]);
    await reducer.addInto(target, 0, unalignedBytes([3, 4]));
    expect([...target]).toEqual([4, 6]);
  });
});

describe('addFloat32', () => {
  /** Deterministic values of varied magnitude, so that float32 rounding matters. */
  const values = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 10 ** ((i % 7) - 3));

  it.each([0, 1, 3, 4, 5, 8, 11, 1027])('gives the bits of the plain element-wise loop on sub-ranges of a %i-element source, at offsets', (n) => {
    for (const [offset, from] of [[0, 0], [3, 0], [5, 2], [1, Math.min(n, 3)]]) {
      const to = Math.max(from, n - 1);
      const a = values(n + offset + 2, 1);
      const b = values(n, 2);
      const expected = Float32Array.from(a);
      for (let i = from; i < to; i++) expected[offset + i] += b[i];
      addFloat32(a, offset, b, from, to);
      expect(Buffer.from(a.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    }
  });

  it('adds all of b by default and leaves the rest of a alone', () => {
    const a = new Float32Array([1, 1, 1, 1, 1, 1, 1, 1]);
    addFloat32(a, 1, new Float32Array([1, 2, 3, 4, 5]));
    expect([...a]).toEqual([1, 2, 3, 4, 5, 6, 1, 1]);
  });
});
