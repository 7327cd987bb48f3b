/**
 * The collective: how data-parallel members combine their gradients.
 *
 * Business code (the worker's step loop) talks to this interface only; the ring
 * over gRPC ({@link GrpcRingCollective}) and the in-process hub of the testing
 * entry point both implement it and both pass `describeCollectiveConformance`.
 *
 * Contract of {@link Collective.allReduceSum}:
 *  1. Every member calls it with the same `(experiment, generation, step)` and
 *     buffers of the same lengths in the same order (DESIGN.md Invariant 5:
 *     collectives run in the same order on every member).
 *  2. The buffers are fused into buckets of `bucketBytes` in index order; buckets
 *     are reduced in index order.
 *  3. On success every buffer holds, element-wise, the sum over all members
 *     (up to float summation order, which may differ between elements but is the
 *     same on every member, so all members end with identical bytes).
 *  4. On failure the promise rejects with a {@link CollectiveError} and the
 *     buffers hold partial sums: throw them away (Invariant 3: parameters change
 *     only at commit). A chunk that is refused is never summed.
 *  5. A member whose generation is older than one it has seen is refused with
 *     `StaleGenerationError` (Invariant 4: the generation is a fencing token).
 */

import type { PeerRef } from './collective-errors';

/** Identifies one reduction; carried by every message (DESIGN.md Invariant 4). */
export interface ReduceContext {
  /** Experiment id. */
  experiment: string;
  /** Membership generation (fencing token), a non-negative safe integer. */
  generation: number;
  /** Training step being reduced, a non-negative safe integer. */
  step: number;
}

/** A group of `size` members that sum gradient buffers together. */
export interface Collective {
  /** This member's position in the group, 0 .. size-1. */
  readonly rank: number;
  /** Number of members. */
  readonly size: number;
  /**
   * Sums `buffers` element-wise over all members, in place.
   * @param ctx must be the same on every member.
   * @param buffers gradient tensors in a fixed order; lengths must match on every member. Empty buffers are allowed.
   */
  allReduceSum(ctx: ReduceContext, buffers: Float32Array[]): Promise<void>;
  /**
   * Optional: calls `listener` when the connection to a neighbour fails from its
   * side (it may be gone); returns a function that removes the listener.
   */
  onPeerFailure?(listener: (peer: PeerRef, error: Error) => void): () => void;
  /** Stops serving and fails any reduction in progress; idempotent. */
  close(): Promise<void>;
}

/** Defaults shared by every implementation. */
export const COLLECTIVE_DEFAULTS = Object.freeze({
  /** 4 MiB: large enough to amortise per-bucket latency, small enough to overlap buckets. */
  bucketBytes: 4 * 1024 * 1024,
  /** 30 s: a step's reduction of a few hundred MiB on a slow link still fits; a dead peer is named well before a BullMQ lock (60 s) expires. */
  timeoutMs: 30_000,
});

/** Checks a context once at the edge; throws a TypeError naming the field. */
export function validateReduceContext(ctx: ReduceContext): void {
  if (typeof ctx.experiment !== 'string' || ctx.experiment.length === 0) {
    throw new TypeError(`ReduceContext.experiment must be a non-empty string, got ${JSON.stringify(ctx.experiment)}`);
  }
  for (const field of ['generation', 'step'] as const) {
    const value = ctx[field];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`ReduceContext.${field} must be a non-negative safe integer, got ${String(value)}`);
    }
  }
}

/** Checks the buffers argument once at the edge. */
export function validateBuffers(buffers: Float32Array[]): void {
  if (!Array.isArray(buffers)) throw new TypeError('allReduceSum expects an array of Float32Array buffers');
  buffers.forEach((buffer, index) => {
    if (!(buffer instanceof Float32Array)) {
      throw new TypeError(`allReduceSum buffers[${index}] must be a Float32Array, got ${Object.prototype.toString.call(buffer)}`);
    }
  });
}

/** Two contexts name the same reduction. */
export function sameContext(a: ReduceContext, b: ReduceContext): boolean {
  return a.experiment === b.experiment && a.generation === b.generation && a.step === b.step;
}

/** `experiment/g<generation>/s<step>`, for messages. */
export function formatContext(ctx: ReduceContext): string {
  return `${ctx.experiment}/g${ctx.generation}/s${ctx.step}`;
}
