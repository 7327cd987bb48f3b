/**
 * Gradient fusion: the buffers of one reduction, concatenated in index order, are
 * cut into buckets of at most `bucketElements` elements. Bucket b covers the
 * global element range [b·E, min(T, (b+1)·E)) of the concatenation (T elements in
 * all), so a bucket may hold the tail of one tensor and the head of the next, and
 * a large tensor spans several buckets. There is always at least one bucket, even
 * when T = 0, so that every reduction exchanges at least one message and a
 * mismatched context is detected rather than silently skipped.
 *
 * A bucket is staged into a contiguous fusion buffer (over a SharedArrayBuffer
 * when reduction workers write into it, else plain memory), reduced, then copied
 * back — unless it lies within one buffer, which the ring then reduces in place
 * (ring-reduction.ts).
 */

/** A contiguous piece of one input buffer that lands in a bucket. */
export interface BucketPiece {
  /** Index into the buffers array. */
  buffer: number;
  /** First element within that buffer. */
  bufferOffset: number;
  /** First element within the bucket. */
  bucketOffset: number;
  length: number;
}

export interface Bucket {
  index: number;
  /** Number of elements. */
  elements: number;
  pieces: BucketPiece[];
}

/** Cuts the concatenation of buffers of the given lengths into buckets. */
export function planBuckets(lengths: readonly number[], bucketElements: number): Bucket[] {
  if (!Number.isInteger(bucketElements) || bucketElements < 1) {
    throw new RangeError(`bucketElements must be a positive integer, got ${bucketElements}`);
  }
  const total = lengths.reduce((sum, n) => sum + n, 0);
  const count = Math.max(1, Math.ceil(total / bucketElements));
  const buckets: Bucket[] = [];
  let buffer = 0;
  let bufferOffset = 0;
  for (let index = 0; index < count; index++) {
    const elements = Math.min(bucketElements, total - index * bucketElements);
    const pieces: BucketPiece[] = [];
    let bucketOffset = 0;
    while (bucketOffset < elements) {
      while (bufferOffset >= lengths[buffer]) {
        buffer++;
        bufferOffset = 0;
      }
      const length = Math.min(lengths[buffer] - bufferOffset, elements - bucketOffset);
      pieces.push({ buffer, bufferOffset, bucketOffset, length });
      bucketOffset += length;
      bufferOffset += length;
    }
    buckets.push({ index, elements, pieces });
  }
  return buckets;
}

/** Copies a bucket's pieces from the buffers into `fusion` (at least `bucket.elements` long). */
export function stageBucket(bucket: Bucket, buffers: readonly Float32Array[], fusion: Float32Array): void {
  for (const p of bucket.pieces) {
    fusion.set(buffers[p.buffer].subarray(p.bufferOffset, p.bufferOffset + p.length), p.bucketOffset);
  }
}

/** Copies a reduced bucket back from `fusion` into the buffers. */
export function unstageBucket(bucket: Bucket, fusion: Float32Array, buffers: Float32Array[]): void {
  for (const p of bucket.pieces) {
    buffers[p.buffer].set(fusion.subarray(p.bucketOffset, p.bucketOffset + p.length), p.bufferOffset);
  }
}

/** A fusion buffer of `elements` float32s, over shared memory when reduction workers write into it. */
export function allocateFusionBuffer(elements: number, shared = true): Float32Array {
  const bytes = Math.max(1, elements) * Float32Array.BYTES_PER_ELEMENT;
  return new Float32Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes), 0, elements);
}

/**
 * Reuses fusion buffers across buckets and steps: a fresh 4 MiB buffer per bucket
 * costs page faults on first touch and garbage-collector work, which measured
 * larger than the copies themselves.
 */
export class FusionPool {
  private readonly free: Float32Array[] = [];

  /**
   * @param capacity buffers kept for reuse. The ring pipelines buckets (ring-schedule.ts
   * `pipelinedOrder`): bucket b+1 starts one round after bucket b, so up to 2(N−1)
   * buckets are alive at once — 6 at N = 4, plus one being released.
   */
  constructor(private readonly capacity = 8) {}

  acquire(elements: number, shared: boolean): Float32Array {
    const index = this.free.findIndex((f) => f.buffer.byteLength >= elements * 4 && f.buffer instanceof SharedArrayBuffer === shared);
    if (index < 0) return allocateFusionBuffer(elements, shared);
    const [found] = this.free.splice(index, 1);
    return new Float32Array(found.buffer, 0, elements);
  }

  release(fusion: Float32Array): void {
    if (this.free.length < this.capacity) this.free.push(fusion);
  }
}
