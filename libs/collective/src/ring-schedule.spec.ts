import { BUCKET_LAG_ROUNDS, pipelinedOrder, receiveSchedule, ringRounds, segmentRange, sendSchedule } from './ring-schedule';

/** Runs the schedule of every member in lockstep over plain arrays: an independent check of the algorithm. */
function simulate(inputs: number[][], chunkElements: number): { results: number[][]; sentElements: number[] } {
  const size = inputs.length;
  const n = inputs[0].length;
  const data = inputs.map((x) => [...x]);
  const sentElements = new Array<number>(size).fill(0);
  for (let g = 0; g < ringRounds(size); g++) {
    // Everyone sends round g from the values held before anyone applies round g.
    const outgoing = data.map((local, r) =>
      sendSchedule(r, size, n, chunkElements)
        .filter((c) => c.step === g)
        .map((c) => ({ c, values: local.slice(c.offset, c.offset + c.length) })),
    );
    data.forEach((local, r) => {
      const from = (r - 1 + size) % size;
      const expected = receiveSchedule(r, size, n, chunkElements).filter((c) => c.step === g);
      expect(outgoing[from].map((m) => m.c)).toEqual(expected);
      for (const { c, values } of outgoing[from]) {
        values.forEach((v, i) => (local[c.offset + i] = c.phase === 'REDUCE_SCATTER' ? local[c.offset + i] + v : v));
      }
    });
    outgoing.forEach((msgs, r) => msgs.forEach((m) => (sentElements[r] += m.c.length)));
  }
  return { results: data, sentElements };
}

describe('ring schedule', () => {
  it.each([
    [1, 5, 2],
    [2, 0, 4],
    [2, 1, 4],
    [3, 2, 1],
    [3, 10, 3],
    [4, 3, 2],
    [4, 101, 7],
    [5, 64, 64],
  ])('N = %i, n = %i, chunk = %i: every member ends with the exact sum', (size, n, chunk) => {
    const inputs = Array.from({ length: size }, (_, r) => Array.from({ length: n }, (_, i) => (r + 1) * 1000 + i));
    const { results } = simulate(inputs, chunk);
    const expected = Array.from({ length: n }, (_, i) => inputs.reduce((s, x) => s + x[i], 0));
    results.forEach((r) => expect(r).toEqual(expected));
  });

  it('sends 2(N-1)/N of the bucket per member when N divides n', () => {
    const { sentElements } = simulate(
      Array.from({ length: 4 }, () => new Array<number>(400).fill(1)),
      16,
    );
    expect(sentElements).toEqual([600, 600, 600, 600]);
  });

  it('splits a bucket into N contiguous segments differing by at most one element', () => {
    for (const [n, size] of [[10, 3], [2, 4], [0, 3], [7, 7]]) {
      const segments = Array.from({ length: size }, (_, k) => segmentRange(n, size, k));
      expect(segments.reduce((s, x) => s + x.length, 0)).toBe(n);
      segments.forEach((s, k) => k > 0 && expect(s.start).toBe(segments[k - 1].start + segments[k - 1].length));
      expect(Math.max(...segments.map((s) => s.length)) - Math.min(...segments.map((s) => s.length))).toBeLessThanOrEqual(1);
    }
  });
});

describe('pipelinedOrder (wire order across buckets)', () => {
  it.each([
    [2, [10, 7, 3], 2],
    [3, [12, 12, 5, 1], 3],
    [4, [16, 16, 16, 16], 4],
    [4, [9, 0, 5], 2],
  ])('N=%i buckets %j chunk %i: every member sends what its successor expects, each chunk after its dependency', (size, buckets, chunkElements) => {
    for (let rank = 0; rank < size; rank++) {
      const successor = (rank + 1) % size;
      const sent = pipelinedOrder(buckets.map((n) => sendSchedule(rank, size, n, chunkElements)));
      const expected = pipelinedOrder(buckets.map((n) => receiveSchedule(successor, size, n, chunkElements)));
      expect(sent.map(({ bucket, chunk }) => [bucket, chunk.phase, chunk.round, chunk.segment, chunk.offset, chunk.length])).toEqual(
        expected.map(({ bucket, chunk }) => [bucket, chunk.phase, chunk.round, chunk.segment, chunk.offset, chunk.length]),
      );
      // Chunk j of round g (g > 0) waits for chunk j of round g−1 from the predecessor: that one
      // must come before everything of the waiting chunk's slot in the predecessor's send order.
      const predecessorOrder = pipelinedOrder(buckets.map((n) => receiveSchedule(rank, size, n, chunkElements)));
      const slot = (bucket: number, step: number): number => step + bucket * BUCKET_LAG_ROUNDS;
      const position = new Map(predecessorOrder.map(({ bucket, chunk }, i) => [`${bucket}/${chunk.step}/${chunk.chunk}`, i]));
      for (const { bucket, chunk } of sent) {
        if (chunk.step === 0) continue;
        const dependency = position.get(`${bucket}/${chunk.step - 1}/${chunk.chunk}`) as number;
        const firstOfSlot = predecessorOrder.findIndex((x) => slot(x.bucket, x.chunk.step) >= slot(bucket, chunk.step));
        expect(dependency).toBeLessThan(firstOfSlot);
      }
      // Each bucket's chunks keep their own schedule order.
      buckets.forEach((n, b) => expect(sent.filter((x) => x.bucket === b).map((x) => x.chunk)).toEqual(sendSchedule(rank, size, n, chunkElements)));
    }
  });
});
