/**
 * The ring all-reduce schedule (reduce-scatter, then all-gather), as pure data so
 * the gRPC ring, the raw-TCP benchmark ring and a tests' in-memory simulation all
 * run the very same algorithm.
 *
 * N members in a ring; member r sends only to r+1 and receives only from r−1
 * (mod N). A bucket of n elements is split into N segments as evenly as possible
 * (segment k has ⌊n/N⌋ or ⌈n/N⌉ elements; some are empty when n < N). Each segment
 * travels as one or more chunks of at most `chunkElements` (an empty segment as one
 * empty chunk, so every step exchanges a message and stays checkable).
 *
 *  1. Reduce-scatter, rounds t = 0 .. N−2: send segment (r − t) mod N, receive
 *     segment (r − t − 1) mod N and add it into the local copy.
 *     After round N−2, member r holds the complete sum of segment (r + 1) mod N.
 *  2. All-gather, rounds t = 0 .. N−2: send segment (r + 1 − t) mod N, receive
 *     segment (r − t) mod N and overwrite the local copy.
 *  3. Number the 2(N−1) rounds of both phases g = 0 .. 2N−3. The segment sent in
 *     round g is the segment received in round g−1, chunk for chunk, so chunk j of
 *     round g may leave as soon as chunk j of round g−1 has been applied: the ring
 *     pipelines at chunk granularity, and round 0 of the next bucket may leave
 *     before the current bucket's last chunks arrive.
 *
 * Each member sends (and receives) 2(N−1)/N of the bucket: the bandwidth optimum.
 */

export type RingPhase = 'REDUCE_SCATTER' | 'ALL_GATHER';

/** One chunk of one segment in one round. */
export interface RingChunk {
  /** Global round g = 0 .. 2N−3 across both phases. */
  step: number;
  phase: RingPhase;
  /** Round within the phase, 0 .. N−2. */
  round: number;
  segment: number;
  /** Index of this chunk within its segment. */
  chunk: number;
  /** First element within the bucket. */
  offset: number;
  length: number;
}

/** Half-open element range of segment k of a bucket of n elements split N ways. */
export function segmentRange(n: number, size: number, k: number): { start: number; length: number } {
  const base = Math.floor(n / size);
  const rem = n % size;
  return { start: k * base + Math.min(k, rem), length: base + (k < rem ? 1 : 0) };
}

const mod = (a: number, n: number): number => ((a % n) + n) % n;

/** Chunks of segment k: at least one (possibly empty), each at most chunkElements. */
export function segmentChunks(n: number, size: number, k: number, chunkElements: number): Array<{ offset: number; length: number }> {
  const { start, length } = segmentRange(n, size, k);
  const count = Math.max(1, Math.ceil(length / chunkElements));
  const chunks: Array<{ offset: number; length: number }> = [];
  for (let j = 0; j < count; j++) {
    const offset = start + j * chunkElements;
    chunks.push({ offset, length: Math.min(chunkElements, start + length - offset) });
  }
  return chunks;
}

/** Round g of member `rank`: what it sends and what it receives. */
export function ringRound(rank: number, size: number, g: number): { phase: RingPhase; round: number; sendSegment: number; recvSegment: number } {
  if (g < size - 1) {
    return { phase: 'REDUCE_SCATTER', round: g, sendSegment: mod(rank - g, size), recvSegment: mod(rank - g - 1, size) };
  }
  const t = g - (size - 1);
  return { phase: 'ALL_GATHER', round: t, sendSegment: mod(rank + 1 - t, size), recvSegment: mod(rank - t, size) };
}

/** Number of global rounds of one bucket: 2(N−1). */
export const ringRounds = (size: number): number => 2 * (size - 1);

/** Every chunk member `rank` sends for a bucket of n elements, in wire order. */
export function sendSchedule(rank: number, size: number, n: number, chunkElements: number): RingChunk[] {
  return schedule(rank, size, n, chunkElements, 'send');
}

/** Every chunk member `rank` receives for a bucket of n elements, in wire order. */
export function receiveSchedule(rank: number, size: number, n: number, chunkElements: number): RingChunk[] {
  return schedule(rank, size, n, chunkElements, 'recv');
}

function schedule(rank: number, size: number, n: number, chunkElements: number, side: 'send' | 'recv'): RingChunk[] {
  const out: RingChunk[] = [];
  for (let step = 0; step < ringRounds(size); step++) {
    const r = ringRound(rank, size, step);
    const segment = side === 'send' ? r.sendSegment : r.recvSegment;
    segmentChunks(n, size, segment, chunkElements).forEach((c, chunk) =>
      out.push({ step, phase: r.phase, round: r.round, segment, chunk, offset: c.offset, length: c.length }),
    );
  }
  return out;
}

/** One entry of the wire order across buckets: chunk `chunk` of bucket `bucket`. */
export interface PipelinedChunk {
  bucket: number;
  chunk: RingChunk;
}

/**
 * Rounds between the start of one bucket and the start of the next on the wire.
 * 1: bucket b+1's round g travels in the same slot as bucket b's round g+1, so
 * up to 2(N−1) buckets are in flight at once on every edge.
 */
export const BUCKET_LAG_ROUNDS = 1;

/**
 * The wire order of a whole reduction: the chunks of every bucket (each bucket's
 * own schedule, from {@link sendSchedule} or {@link receiveSchedule}), merged so
 * that bucket b's round g travels in slot `g + b·lag`; within a slot, buckets go
 * in index order and each bucket's chunks in schedule order. A member's send order
 * and its successor's receive order are the same list (same keys on both sides).
 *
 * Why: a bucket alone is a chain of 2(N−1) dependent rounds — with one chunk per
 * segment (4 MiB buckets, 1 MiB chunks, N = 4) every edge carries one message at
 * a time and the ring runs in lockstep. Starting the next bucket one round later
 * instead of after the last round keeps several independent messages in flight
 * on every edge. Deadlock-free: a chunk of slot s waits only for a chunk of slot
 * s−1, which every member sends before anything of slot s.
 */
export function pipelinedOrder(perBucket: readonly RingChunk[][], lag = BUCKET_LAG_ROUNDS): PipelinedChunk[] {
  const out: Array<PipelinedChunk & { slot: number; index: number }> = [];
  perBucket.forEach((chunks, bucket) => chunks.forEach((chunk, index) => out.push({ bucket, chunk, slot: chunk.step + bucket * lag, index })));
  out.sort((a, b) => a.slot - b.slot || a.bucket - b.bucket || a.index - b.index);
  return out.map(({ bucket, chunk }) => ({ bucket, chunk }));
}
