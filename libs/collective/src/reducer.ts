/**
 * The hot loop of the ring: `target[offset + i] += source[i]` over a received
 * chunk (about 1 MiB, 262 144 float32s). Two implementations, chosen by option:
 *
 *  - `worker` ({@link WorkerPoolReducer}): the chunk is copied into a shared slot
 *    and a worker thread adds it into the fusion buffer (a SharedArrayBuffer), so
 *    the event loop that serves the gRPC streams never runs the loop.
 *  - `inline` ({@link InlineReducer}): the loop runs on the event loop in slices
 *    of {@link INLINE_SLICE_ELEMENTS} with a `setImmediate` yield between slices.
 *
 * bench/allreduce/RESULTS.md records which is faster on this machine; the
 * default (`inline`) follows it. `worker` stays available for machines with
 * cores to spare.
 */
export interface Reducer {
  /** True when targets should live on a SharedArrayBuffer (copies into shared memory cost about 4× more, so others use plain memory). */
  readonly wantsSharedTarget: boolean;
  /**
   * Adds the little-endian float32 values in `source` into `target` starting at
   * element `offset`. `target` should live on a SharedArrayBuffer for the worker
   * implementation (it falls back to the inline loop otherwise).
   */
  addInto(target: Float32Array, offset: number, source: Uint8Array): Promise<void>;
  /** Stops worker threads; idempotent. */
  close(): Promise<void>;
}

export type ReducerKind = 'worker' | 'inline';

/**
 * Elements summed between two event-loop yields in the inline loop.
 * @defaultValue 256 Ki (1 MiB of float32, one default chunk: ~0.2 ms of the event
 * loop) — a default chunk is summed without yielding. Yielding every 64 Ki
 * elements cost the ring ~8 % of its wall time and more collections (N = 4,
 * 16 MB, three alternated rounds: bench/allreduce/RESULTS.md, fourth pass).
 */
export const INLINE_SLICE_ELEMENTS = 256 * 1024;

/** `source` as float32s: a view when 4-byte aligned, else an aligned copy. */
export function asFloat32(source: Uint8Array): Float32Array {
  const count = source.byteLength >>> 2;
  if (source.byteOffset % 4 === 0) return new Float32Array(source.buffer, source.byteOffset, count);
  const copy = new Uint8Array(count * 4);
  copy.set(source.subarray(0, count * 4));
  return new Float32Array(copy.buffer, 0, count);
}

/**
 * The loop itself: elements [from, to) of `b` are added into `a` at `offset + from`
 * onwards. It runs on subarray views (one index for both arrays), unrolled by
 * four: V8 does not vectorise, and this form cut the ring's CPU by about 10 %
 * against the plain `a[offset + i] += b[i]`, pooled over interleaved A/Bs
 * (bench/allreduce/RESULTS.md, sixth pass).
 * Every element is still float32(a + b) on its own: the same bits as before.
 */
export function addFloat32(a: Float32Array, offset: number, b: Float32Array, from = 0, to = b.length): void {
  const t = a.subarray(offset + from, offset + to);
  const s = b.subarray(from, to);
  const n = s.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    t[i] += s[i];
    t[i + 1] += s[i + 1];
    t[i + 2] += s[i + 2];
    t[i + 3] += s[i + 3];
  }
  for (; i < n; i++) t[i] += s[i];
}
