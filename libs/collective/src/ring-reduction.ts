/**
 * One all-reduce over an established ring edge pair: the sender loop writes this
 * member's schedule to the successor, the receiver loop checks and applies the
 * predecessor's chunks, and the reduction resolves when every bucket is received,
 * copied back into the caller's buffers and acknowledged by the successor.
 *
 * 1. Buckets are staged (copied into a pooled fusion buffer) by the sender, in
 *    index order, just before their first chunk leaves — unless the bucket lies
 *    within one of the caller's buffers, which is then reduced in place.
 * 2. Sender: chunk j of round g leaves once chunk j of round g−1 was applied
 *    (see ring-schedule.ts); payloads are views of the fusion buffer. A segment
 *    is never modified after it is sent until a message that causally depends
 *    on its delivery arrives, so a write buffered inside grpc-js (serialised
 *    later) still sees the bytes that were meant.
 * 3. Receiver: every message must be the expected chunk — same experiment,
 *    generation, step, bucket, phase, round, segment, offset, total elements,
 *    dtype and payload length — or it is refused with a gRPC status
 *    (FAILED_PRECONDITION for the context, INVALID_ARGUMENT for the shape) and
 *    never applied. Reduce-scatter chunks go to the reducer (off the event
 *    loop); all-gather chunks are copied in place.
 * 4. A complete bucket is copied back to the caller's buffers and acknowledged.
 * 5. Any failure fails the whole reduction at once: the first error wins, the
 *    other loops stop at their next await. One deadline covers the reduction.
 *    A stalled member stalls the whole ring, so every member ends up waiting on
 *    its predecessor; to name the right one, members with direct evidence act
 *    first. At (deadline − grace): a member that has not had a single chunk from
 *    its predecessor blames it, and one blocked on sending or on acks blames its
 *    successor; either sends an Abort naming the culprit round the ring (see
 *    ring-abort.ts). A member that did get chunks and then stalled waits until
 *    the deadline for such an Abort, and only then blames its predecessor.
 */
import { status } from '@grpc/grpc-js';
import type { Chunk__Output, RingDownstream, RingDownstream__Output } from '@unroll/proto';
import { FusionPool, planBuckets, stageBucket, unstageBucket, type Bucket } from './bucket-plan';
import { formatContext, type ReduceContext } from './collective';
import { CollectiveError, MessageRejectedError, PeerDeadlineError, StaleGenerationError, type PeerRef } from './collective-errors';
import { Deferred } from './deferred';
import type { Reducer } from './reducer';
import { errorFromAbort } from './ring-abort';
import { pipelinedOrder, receiveSchedule, sendSchedule, type RingChunk } from './ring-schedule';

/** Longest head start given to members with direct evidence of a stalled peer. */
export const BLAME_GRACE_MS = 2_000;

/**
 * What the reduction needs from the edge it receives on (gRPC: RingInbound).
 * Transport-agnostic so the benchmark runs this very algorithm over raw TCP.
 */
export interface RingReceiveEdge {
  readonly predecessor: PeerRef;
  /**
   * Resolves, with no value, once a message from the predecessor is queued for
   * {@link take}; rejects once the edge has failed and nothing is queued.
   *
   * Not a promise of the message itself: a promise that waits across two
   * scavenges is promoted to V8's old generation, and a message it then
   * resolves with stays referenced from there until the next mark-compact — it
   * survives every scavenge and is promoted too, with its ~1 MiB payload. That
   * external memory, piling up between mark-compacts, made V8 start incremental
   * marking early, again and again: about 5× the mark-compacts of a ring that
   * applies each message in its callback, and ~50 % more CPU per reduction
   * (bench/allreduce/RESULTS.md, fifth pass).
   */
  ready(): Promise<void>;
  /** The oldest queued message, in wire order; only after {@link ready} resolved. */
  take(): RingDownstream__Output;
  /** Refuses the stream with a status; the predecessor's reduction fails. */
  refuse(code: status, reason: string, ownGeneration: number): void;
  /** Acknowledges a complete bucket. */
  ack(experiment: string, generation: number, step: number, bucket: number): void;
  /**
   * The reduction is done with `message` (its payload is summed or copied, or it
   * was refused): an edge that reads into pooled buffers may reuse the memory.
   * Optional; gRPC messages belong to grpc-js and are left to the collector.
   */
  release?(message: RingDownstream__Output): void;
}

/** What the reduction needs from the edge it sends on (gRPC: RingOutbound). */
export interface RingSendEdge {
  readonly successor: PeerRef;
  /**
   * Calls `listener` once when the edge fails (at once if it has); returns a
   * function that removes it. Not a promise to react to: the edge outlives every
   * reduction on it, and a reaction cannot be removed from a promise — each
   * reduction would leave one behind (with whatever its closure holds).
   */
  onFailure(listener: (error: Error) => void): () => void;
  /** Writes a message; resolves when another may be written (flow control). */
  send(message: RingDownstream): Promise<void>;
  /** Resolves when the successor acknowledges `bucket` of `step`. */
  acked(step: number, bucket: number): Promise<void>;
  /** Resolves when every message written so far has left the caller's memory (serialised or handed to the kernel). */
  flushed(): Promise<void>;
}

export interface RingReductionParams {
  rank: number;
  size: number;
  ctx: ReduceContext;
  buffers: Float32Array[];
  bucketElements: number;
  chunkElements: number;
  inbound: RingReceiveEdge;
  outbound: RingSendEdge;
  reducer: Reducer;
  /** Milliseconds the whole reduction may take. */
  timeoutMs: number;
  /** Where fusion buffers come from; share one across reductions. @defaultValue a fresh pool */
  fusionPool?: FusionPool;
}

/** A refused chunk: the status to send and why. */
interface Refusal {
  code: status;
  reason: string;
  /** The chunk's generation, when it differs from ours. */
  generation?: number;
}

interface BucketState {
  bucket: Bucket;
  /** The bucket is reduced directly in the caller's buffer (no fusion buffer, no staging copies). */
  inPlace: boolean;
  fusion: Deferred<Float32Array>;
  applied: Map<string, Deferred>;
}

export class RingReduction {
  /** Rejecters of the promises returned by {@link guard} that are still pending. */
  private readonly waiters = new Set<(error: Error) => void>();
  private failure: Error | undefined;
  private awaitingChunk = false;
  private chunksReceived = 0;
  private readonly buckets: BucketState[];

  private readonly pool: FusionPool;

  constructor(private readonly p: RingReductionParams) {
    this.pool = p.fusionPool ?? new FusionPool();
    this.buckets = planBuckets(
      p.buffers.map((b) => b.length),
      p.bucketElements,
    ).map((bucket) => ({ bucket, inPlace: false, fusion: new Deferred<Float32Array>(), applied: new Map() }));
  }

  get predecessor(): PeerRef {
    return this.p.inbound.predecessor;
  }

  get successor(): PeerRef {
    return this.p.outbound.successor;
  }

  async run(): Promise<void> {
    const { timeoutMs } = this.p;
    const graceMs = Math.min(BLAME_GRACE_MS, Math.floor(timeoutMs / 5));
    const blame = (peer: PeerRef): void =>
      this.fail(new PeerDeadlineError(peer, `missed the ${timeoutMs} ms deadline of reduction ${formatContext(this.p.ctx)}`));
    let timer = setTimeout(() => {
      if (!this.awaitingChunk) blame(this.successor);
      else if (this.chunksReceived === 0) blame(this.predecessor);
      else timer = setTimeout(() => blame(this.predecessor), graceMs);
    }, timeoutMs - graceMs);
    const unlisten = this.p.outbound.onFailure((error) => this.fail(error));
    try {
      await this.guard(Promise.all([this.sendAll(), this.receiveAll(), this.awaitAcks()]));
    } catch (error) {
      this.fail(error instanceof Error ? error : new CollectiveError(String(error)));
      throw this.failure;
    } finally {
      clearTimeout(timer);
      unlisten();
    }
  }

  /** Fails the reduction (first error wins); pending loops stop at their next await. */
  fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const reject of this.waiters) reject(error);
    this.waiters.clear();
  }

  get error(): Error | undefined {
    return this.failure;
  }

  /**
   * `promise`, or the reduction's failure if that comes first. Not
   * `Promise.race([promise, failed])` with a long-lived `failed` promise: every
   * race leaves a reaction on it that keeps the race's result alive until the
   * reduction ends — every received 1 MiB chunk, 2(N−1)/N of the payload per
   * reduction, held until the end (measured: 200 races of 1 MiB kept 200 MiB).
   * Here the waiter is dropped as soon as `promise` settles.
   */
  private guard<T>(promise: Promise<T>): Promise<T> {
    if (this.failure) {
      // Whatever `promise` does now is moot, but its rejection must not go unhandled
      // (it would end the process): e.g. an edge that had already failed when the
      // reduction started fails the reduction at once, before its loops are awaited.
      promise.catch(() => undefined);
      return Promise.reject(this.failure);
    }
    return new Promise<T>((resolve, reject) => {
      this.waiters.add(reject);
      promise.then(
        (value) => {
          this.waiters.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.waiters.delete(reject);
          reject(error);
        },
      );
    });
  }

  private applied(state: BucketState, step: number, chunk: number): Deferred {
    const key = `${step}/${chunk}`;
    let done = state.applied.get(key);
    if (!done) {
      done = new Deferred();
      state.applied.set(key, done);
    }
    return done;
  }

  private async sendAll(): Promise<void> {
    const { rank, size, ctx, chunkElements, outbound } = this.p;
    const schedules = this.buckets.map(({ bucket }) => sendSchedule(rank, size, bucket.elements, chunkElements));
    const unsent = schedules.map((chunks) => chunks.length);
    const fusions: Float32Array[] = [];
    for (const { bucket: b, chunk: c } of pipelinedOrder(schedules)) {
      if (this.failure) return;
      const state = this.buckets[b];
      const { bucket } = state;
      if (!fusions[b]) {
        // Staged just before the bucket's first chunk leaves.
        const fusion = this.inPlace(bucket) ?? this.pool.acquire(bucket.elements, this.p.reducer.wantsSharedTarget);
        if (!state.inPlace) stageBucket(bucket, this.p.buffers, fusion);
        state.fusion.resolve(fusion);
        fusions[b] = fusion;
      }
      if (c.step > 0) await this.guard(this.applied(state, c.step - 1, c.chunk).promise);
      await this.guard(outbound.send(this.chunkMessage(ctx, bucket, c, fusions[b])));
      if (--unsent[b] === 0) this.markSent(b);
    }
  }

  /**
   * A bucket that lies within one buffer is reduced in that buffer: a view of it
   * serves as the fusion buffer, which saves staging the bucket in and out (two
   * copies of every byte) and a pooled buffer. Not when the reducer wants shared
   * memory and the caller's buffer is not shared. The caller's buffer then holds
   * partial sums while the reduction runs, which the contract allows on failure
   * (collective.ts, 4); on success every send has been acknowledged, so no
   * transport still reads it.
   */
  private inPlace(bucket: Bucket): Float32Array | undefined {
    if (bucket.pieces.length !== 1) return undefined;
    const [piece] = bucket.pieces;
    const buffer = this.p.buffers[piece.buffer];
    if (this.p.reducer.wantsSharedTarget && !(buffer.buffer instanceof SharedArrayBuffer)) return undefined;
    this.buckets[bucket.index].inPlace = true;
    return buffer.subarray(piece.bufferOffset, piece.bufferOffset + piece.length);
  }

  private chunkMessage(ctx: ReduceContext, bucket: Bucket, c: RingChunk, fusion: Float32Array): RingDownstream {
    return {
      chunk: {
        tag: { experiment: ctx.experiment, generation: ctx.generation, step: ctx.step },
        bucket: bucket.index,
        phase: c.phase,
        round: c.round,
        segment: c.segment,
        offset: c.offset,
        total_elements: bucket.elements,
        dtype: 'FLOAT32',
        payload: Buffer.from(fusion.buffer, fusion.byteOffset + c.offset * 4, c.length * 4),
      },
    };
  }

  private async receiveAll(): Promise<void> {
    const { rank, size, chunkElements, inbound } = this.p;
    const schedules = this.buckets.map(({ bucket }) => receiveSchedule(rank, size, bucket.elements, chunkElements));
    const unreceived = schedules.map((chunks) => chunks.length);
    const pendingOf = schedules.map((): Promise<void>[] => []);
    const fusions: Float32Array[] = [];
    const finished: Promise<void>[] = [];
    for (const { bucket: b, chunk: c } of pipelinedOrder(schedules)) {
      const state = this.buckets[b];
      const fusion = (fusions[b] ??= await this.guard(state.fusion.promise));
      const pending = pendingOf[b];
      this.awaitingChunk = true;
      await this.guard(inbound.ready());
      this.awaitingChunk = false;
      this.applyNext(state, c, fusion, pending);
      if (--unreceived[b] === 0) {
        const finishing = this.finishBucket(state, fusion, pending);
        finishing.catch(() => undefined); // awaited below; a failure is reported through run()
        finished.push(finishing);
      }
    }
    await this.guard(Promise.all(finished));
  }

  /**
   * Takes the next message from the edge, checks it against the schedule's chunk
   * `c` and applies it (or refuses it and throws). A plain method, so that the
   * message never sits in the suspended frame of {@link receiveAll}: a frame that
   * waits long is promoted to the old generation, and what it still holds would
   * then outlive scavenges (see {@link RingReceiveEdge.ready}).
   */
  private applyNext(state: BucketState, c: RingChunk, fusion: Float32Array, pending: Promise<void>[]): void {
    const { ctx, inbound, reducer } = this.p;
    const { bucket } = state;
    const message = inbound.take();
    if (message.body === 'abort' && message.abort) throw errorFromAbort(message.abort);
    this.chunksReceived++;
    const chunk = message.chunk;
    const refusal = chunk ? checkChunk(chunk, ctx, bucket, c) : { code: status.INVALID_ARGUMENT, reason: `expected a chunk, got '${message.body ?? 'none'}'` };
    if (refusal || !chunk) {
      const r = refusal ?? { code: status.INVALID_ARGUMENT, reason: 'empty message' };
      inbound.refuse(r.code, r.reason, ctx.generation);
      throw r.generation !== undefined && r.generation > ctx.generation
        ? new StaleGenerationError(ctx.generation, r.generation, `chunk from predecessor rank ${inbound.predecessor.rank}`)
        : new MessageRejectedError(r.code, `refused chunk from predecessor rank ${inbound.predecessor.rank}: ${r.reason}`);
    }
    const done = this.applied(state, c.step, c.chunk);
    if (c.phase === 'REDUCE_SCATTER') {
      pending.push(
        reducer.addInto(fusion, c.offset, chunk.payload).then(() => {
          inbound.release?.(message);
          done.resolve();
        }),
      );
    } else {
      new Uint8Array(fusion.buffer, fusion.byteOffset + c.offset * 4, chunk.payload.byteLength).set(chunk.payload);
      inbound.release?.(message);
      done.resolve();
    }
  }

  /** Once every chunk of a bucket is applied: copy it back, acknowledge it, release its fusion buffer. */
  private async finishBucket(state: BucketState, fusion: Float32Array, pending: Promise<void>[]): Promise<void> {
    const { ctx, inbound } = this.p;
    await this.guard(Promise.all(pending));
    if (this.failure) return;
    if (!state.inPlace) unstageBucket(state.bucket, fusion, this.p.buffers);
    inbound.ack(ctx.experiment, ctx.generation, ctx.step, state.bucket.index);
    // Every send of this bucket has been written (its last sends depend on receives
    // already applied), so the buffer may be reused.
    if (!state.inPlace) this.releaseWhenSent(state, fusion);
  }

  private sentBuckets = -1;
  private readonly awaitingRelease = new Map<number, Float32Array>();

  /**
   * Returns a bucket's fusion buffer to the pool once the sender has moved past
   * the bucket and the transport no longer reads its payload views (a write may
   * sit unserialised in a stream buffer; the last round's sends are not covered
   * by any causal dependency).
   */
  private releaseWhenSent(state: BucketState, fusion: Float32Array): void {
    if (this.sentBuckets >= state.bucket.index) this.releaseWhenFlushed(fusion);
    else this.awaitingRelease.set(state.bucket.index, fusion);
  }

  private markSent(index: number): void {
    this.sentBuckets = index;
    const fusion = this.awaitingRelease.get(index);
    if (fusion) {
      this.awaitingRelease.delete(index);
      this.releaseWhenFlushed(fusion);
    }
  }

  /** A stream that fails never flushes: its buffers are left to the garbage collector. */
  private releaseWhenFlushed(fusion: Float32Array): void {
    this.p.outbound.flushed().then(
      () => this.pool.release(fusion),
      () => undefined,
    );
  }

  private async awaitAcks(): Promise<void> {
    for (const { bucket } of this.buckets) {
      await this.guard(this.p.outbound.acked(this.p.ctx.step, bucket.index));
    }
  }
}

/** Compares a chunk with the one the schedule expects next; undefined when it matches. */
export function checkChunk(chunk: Chunk__Output, ctx: ReduceContext, bucket: Bucket, expected: RingChunk): Refusal | undefined {
  const tag = chunk.tag;
  const generation = Number(tag?.generation ?? Number.NaN);
  const context: Array<[string, unknown, unknown]> = [
    ['experiment', ctx.experiment, tag?.experiment],
    ['generation', String(ctx.generation), tag?.generation],
    ['step', String(ctx.step), tag?.step],
  ];
  for (const [field, want, got] of context) {
    if (want !== got) {
      return { code: status.FAILED_PRECONDITION, reason: `chunk.${field}: expected ${String(want)}, got ${String(got)}`, generation };
    }
  }
  const shape: Array<[string, unknown, unknown]> = [
    ['bucket', bucket.index, chunk.bucket],
    ['total_elements', String(bucket.elements), chunk.total_elements],
    ['phase', expected.phase, chunk.phase],
    ['round', expected.round, chunk.round],
    ['segment', expected.segment, chunk.segment],
    ['offset', String(expected.offset), chunk.offset],
    ['dtype', 'FLOAT32', chunk.dtype],
    ['payload bytes', expected.length * 4, chunk.payload.length],
  ];
  for (const [field, want, got] of shape) {
    if (want !== got) return { code: status.INVALID_ARGUMENT, reason: `chunk.${field}: expected ${String(want)}, got ${String(got)}` };
  }
  return undefined;
}
