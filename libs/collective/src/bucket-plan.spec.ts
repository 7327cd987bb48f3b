import { allocateFusionBuffer, planBuckets, stageBucket, unstageBucket } from './bucket-plan';

describe('planBuckets', () => {
  it('covers every element exactly once, in index order, at most E per bucket', () => {
    const lengths = [0, 5, 1, 0, 12, 3];
    const buckets = planBuckets(lengths, 4);
    expect(buckets.map((b) => b.elements)).toEqual([4, 4, 4, 4, 4, 1]);
    const seen = lengths.map((n) => new Array<number>(n).fill(0));
    for (const b of buckets) for (const p of b.pieces) for (let i = 0; i < p.length; i++) seen[p.buffer][p.bufferOffset + i]++;
    expect(seen.flat().every((c) => c === 1)).toBe(true);
  });

  it('always has one bucket, even with nothing to reduce', () => {
    expect(planBuckets([], 4)).toEqual([{ index: 0, elements: 0, pieces: [] }]);
    expect(planBuckets([0, 0], 4)).toEqual([{ index: 0, elements: 0, pieces: [] }]);
  });

  it('rejects a non-positive bucket size', () => {
    expect(() => planBuckets([1], 0)).toThrow(/bucketElements/);
  });

  it('stages and unstages a bucket that spans buffers', () => {
    const buffers = [Float32Array.from([1, 2, 3]), Float32Array.from([4, 5])];
    const [b0, b1] = planBuckets([3, 2], 4);
    const fusion = allocateFusionBuffer(b0.elements);
    expect(fusion.buffer).toBeInstanceOf(SharedArrayBuffer);
    stageBucket(b0, buffers, fusion);
    expect([...fusion]).toEqual([1, 2, 3, 4]);
    fusion.set([10, 20, 30, 40]);
    unstageBucket(b0, fusion, buffers);
    expect([...buffers[0], ...buffers[1]]).toEqual([10, 20, 30, 40, 5]);
    expect(b1.pieces).toEqual([{ buffer: 1, bufferOffset: 1, bucketOffset: 0, length: 1 }]);
  });
});
