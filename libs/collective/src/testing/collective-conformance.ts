/**
 * One conformance suite for every {@link Collective} implementation (the
 * in-memory hub and the gRPC ring alike), in the manner of BullMQ's adapter
 * tests. The reference is independent of both: a float64 sum of the inputs.
 *
 * Usage, in a spec file:
 *   describeCollectiveConformance('GrpcRingCollective', (size, options) => startGroup(size, options));
 */
import type { Collective, ReduceContext } from '../collective';
import { CollectiveError, PeerDeadlineError, StaleGenerationError } from '../collective-errors';

export interface CollectiveGroupOptions {
  /** Deadline of one reduction. */
  timeoutMs: number;
  /** Bucket size; small values exercise multi-bucket reductions. */
  bucketBytes: number;
  /** Chunk size, for implementations that chunk (ignored otherwise). */
  chunkBytes: number;
}

export interface CollectiveGroup {
  /** Member r has rank r. */
  members: Collective[];
  /** Makes member `rank` vanish as abruptly as the implementation allows (close, or kill a process). */
  kill(rank: number): Promise<void>;
  /** Releases everything; called once per test. */
  close(): Promise<void>;
}

export type CollectiveFactory = (size: number, options: CollectiveGroupOptions) => Promise<CollectiveGroup>;

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Per member, buffers of the given lengths filled with values in [-1, 1). */
function randomInputs(size: number, lengths: number[], seed: number): Float32Array[][] {
  const next = random(seed);
  return Array.from({ length: size }, () =>
    lengths.map((n) => {
      const buffer = new Float32Array(n);
      for (let j = 0; j < n; j++) buffer[j] = next() * 2 - 1;
      return buffer;
    }),
  );
}

/** Float64 reference sum over members. */
function referenceSum(inputs: Float32Array[][]): Float64Array[] {
  return inputs[0].map((_, i) => {
    const sum = new Float64Array(inputs[0][i].length);
    for (const member of inputs) {
      const b = member[i];
      for (let j = 0; j < b.length; j++) sum[j] += b[j];
    }
    return sum;
  });
}

function expectSums(results: Float32Array[][], reference: Float64Array[], size: number): void {
  // |float32 sum − exact| ≤ (N−1)·ε·Σ|x| with |x| < 1, ε = 2^-24, plus rounding of the result.
  const tolerance = size * size * 2 ** -23 + 1e-7;
  results.forEach((member, rank) => {
    member.forEach((buffer, i) => {
      expect(buffer.length).toBe(reference[i].length);
      for (let j = 0; j < buffer.length; j++) {
        if (Math.abs(buffer[j] - reference[i][j]) > tolerance) {
          throw new Error(`member ${rank} buffer ${i}[${j}] = ${buffer[j]}, expected ${reference[i][j]} ± ${tolerance}`);
        }
      }
    });
  });
  // Every member ends with the same bytes.
  for (const member of results.slice(1)) member.forEach((b, i) => expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(results[0][i].buffer, results[0][i].byteOffset, results[0][i].byteLength))).toBe(true));
}

const clone = (inputs: Float32Array[][]): Float32Array[][] => inputs.map((m) => m.map((b) => Float32Array.from(b)));

/** Settles every promise; returns outcomes in order. */
async function settle(promises: Array<Promise<void>>): Promise<Array<{ ok: true } | { ok: false; error: unknown }>> {
  return Promise.all(promises.map((p) => p.then(() => ({ ok: true as const }), (error: unknown) => ({ ok: false as const, error }))));
}

export function describeCollectiveConformance(name: string, factory: CollectiveFactory): void {
  const base: CollectiveGroupOptions = { timeoutMs: 10_000, bucketBytes: 4096, chunkBytes: 1024 };
  let group: CollectiveGroup | undefined;
  const start = async (size: number, options: Partial<CollectiveGroupOptions> = {}): Promise<Collective[]> => {
    group = await factory(size, { ...base, ...options });
    return group.members;
  };
  const ctx = (step: number, generation = 1): ReduceContext => ({ experiment: 'conformance', generation, step });

  describe(`Collective conformance: ${name}`, () => {
    afterEach(async () => {
      await group?.close();
      group = undefined;
    });

    describe.each([1, 2, 3, 4])('N = %i', (size) => {
      it('reports rank and size', async () => {
        const members = await start(size);
        expect(members.map((m) => [m.rank, m.size])).toEqual(members.map((_, r) => [r, size]));
      });

      it('sums buffers of odd sizes (empty, smaller than N, not multiples of N) over several buckets, equal on every member', async () => {
        const members = await start(size);
        const lengths = [0, 1, Math.max(0, size - 1), 3, 1023, 4097, 0, 2500];
        const inputs = randomInputs(size, lengths, 7 * size);
        const results = clone(inputs);
        await Promise.all(members.map((m, r) => m.allReduceSum(ctx(1), results[r])));
        expectSums(results, referenceSum(inputs), size);
      });

      it('repeats steps on the same group', async () => {
        const members = await start(size);
        for (let step = 1; step <= 3; step++) {
          const inputs = randomInputs(size, [777, 5, 2049], 100 * size + step);
          const results = clone(inputs);
          await Promise.all(members.map((m, r) => m.allReduceSum(ctx(step), results[r])));
          expectSums(results, referenceSum(inputs), size);
        }
      });

      it('accepts an empty buffer list and all-empty buffers', async () => {
        const members = await start(size);
        await Promise.all(members.map((m) => m.allReduceSum(ctx(1), [])));
        const empties = members.map(() => [new Float32Array(0), new Float32Array(0)]);
        await Promise.all(members.map((m, r) => m.allReduceSum(ctx(2), empties[r])));
        expect(empties.every((bs) => bs.every((b) => b.length === 0))).toBe(true);
      });
    });

    it('sums a 6 MB tensor with the default 4 MiB bucket and 1 MiB chunks (N = 3)', async () => {
      const members = await start(3, { bucketBytes: 4 * 1024 * 1024, chunkBytes: 1024 * 1024 });
      const inputs = randomInputs(3, [1_500_001], 11);
      const results = clone(inputs);
      await Promise.all(members.map((m, r) => m.allReduceSum(ctx(1), results[r])));
      expectSums(results, referenceSum(inputs), 3);
    });

    it.each([2, 3])('refuses mismatched generations and never sums them (N = %i); a later generation works', async (size) => {
      const members = await start(size);
      const inputs = randomInputs(size, [100, 3], 5);
      const results = clone(inputs);
      const outcomes = await settle(members.map((m, r) => m.allReduceSum(ctx(1, 10 + r), results[r])));
      outcomes.forEach((o) => {
        expect(o.ok).toBe(false);
        if (!o.ok) expect(o.error).toBeInstanceOf(CollectiveError);
      });
      const lowest = outcomes[0];
      if (!lowest.ok) expect(lowest.error).toBeInstanceOf(StaleGenerationError);
      expect(results).toEqual(inputs);
      // The ring re-forms in a newer generation: every member moves on and succeeds.
      const retry = clone(inputs);
      await Promise.all(members.map((m, r) => m.allReduceSum(ctx(1, 20), retry[r])));
      expectSums(retry, referenceSum(inputs), size);
    });

    it('refuses a generation older than one already used', async () => {
      const members = await start(2);
      await Promise.all(members.map((m) => m.allReduceSum(ctx(1, 5), [new Float32Array(4)])));
      const outcomes = await settle(members.map((m) => m.allReduceSum(ctx(2, 4), [new Float32Array(4)])));
      outcomes.forEach((o) => expect(!o.ok && o.error instanceof StaleGenerationError).toBe(true));
    });

    it.each([3, 4])('N = %i: when the last member is closed mid-reduce, the others reject naming it, before the deadline', async (size) => {
      const timeoutMs = 4_000;
      const members = await start(size, { timeoutMs });
      const first = clone(randomInputs(size, [300], 3));
      await Promise.all(members.map((m, r) => m.allReduceSum(ctx(1), first[r])));
      const started = Date.now();
      const survivors = members.slice(0, size - 1).map((m) => m.allReduceSum(ctx(2), [new Float32Array(300_000)]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await group?.kill(size - 1);
      const outcomes = await settle(survivors);
      expect(Date.now() - started).toBeLessThan(timeoutMs);
      outcomes.forEach((o) => {
        expect(o.ok).toBe(false);
        if (!o.ok) {
          expect(o.error).toBeInstanceOf(PeerDeadlineError);
          expect((o.error as PeerDeadlineError).peer.rank).toBe(size - 1);
        }
      });
    });

    it('N = 3: when a member never joins, the others reject naming it within the deadline', async () => {
      const timeoutMs = 2_500;
      const members = await start(3, { timeoutMs });
      const warm = clone(randomInputs(3, [10], 4));
      await Promise.all(members.map((m, r) => m.allReduceSum(ctx(1), warm[r])));
      const started = Date.now();
      const outcomes = await settle(members.slice(0, 2).map((m) => m.allReduceSum(ctx(2), [new Float32Array(10_000)])));
      const elapsed = Date.now() - started;
      expect(elapsed).toBeLessThan(timeoutMs + 1_000);
      outcomes.forEach((o) => {
        expect(o.ok).toBe(false);
        if (!o.ok) {
          expect(o.error).toBeInstanceOf(PeerDeadlineError);
          expect((o.error as PeerDeadlineError).peer.rank).toBe(2);
        }
      });
    });

    it('rejects invalid arguments with a TypeError naming the field', async () => {
      const [member] = await start(1);
      await expect(member.allReduceSum({ experiment: '', generation: 1, step: 1 }, [])).rejects.toThrow(/experiment/);
      await expect(member.allReduceSum({ experiment: 'e', generation: -1, step: 1 }, [])).rejects.toThrow(/generation/);
      await expect(member.allReduceSum(ctx(1), [new Float64Array(2) as unknown as Float32Array])).rejects.toThrow(/buffers\[0\]/);
    });
  });
}
