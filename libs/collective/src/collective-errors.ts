/**
 * Errors of the collective, one hierarchy:
 *
 *   CollectiveError                  any failed reduction; discard partial sums
 *   ├─ StaleGenerationError          this member's generation is older than one seen: it must rejoin
 *   ├─ PeerDeadlineError {peer}      a named peer missed a deadline or dropped its connection: report it
 *   ├─ MessageRejectedError {code}   a message did not match the reduction (refused, never summed)
 *   ├─ ReductionAbortedError {by}    a neighbour's reduction was refused, and it told this member
 *   └─ CollectiveClosedError         close() was called
 *
 * At the gRPC edge: StaleGenerationError ↔ FAILED_PRECONDITION,
 * MessageRejectedError ↔ INVALID_ARGUMENT / FAILED_PRECONDITION (its `code`).
 */
import { status } from '@grpc/grpc-js';

/** Base class: the reduction failed; the buffers hold partial sums. */
export class CollectiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A member of another ring position, named for the coordinator. */
export interface PeerRef {
  rank: number;
  address: string;
}

/** This member's generation is older than the generation of a message or peer it met. */
export class StaleGenerationError extends CollectiveError {
  constructor(
    readonly ownGeneration: number,
    readonly seenGeneration: number,
    detail = '',
  ) {
    super(`generation ${ownGeneration} is stale: generation ${seenGeneration} exists${detail ? ` (${detail})` : ''}`);
  }
}

/** A peer missed its deadline, or its connection broke, during a reduction. */
export class PeerDeadlineError extends CollectiveError {
  constructor(
    readonly peer: PeerRef,
    readonly reason: string,
  ) {
    super(`peer rank ${peer.rank} at ${peer.address}: ${reason}`);
  }
}

/** A message did not match what the reduction expected; it was refused and not summed. */
export class MessageRejectedError extends CollectiveError {
  constructor(
    /** gRPC status code sent (or received) with the refusal. */
    readonly code: status,
    readonly reason: string,
  ) {
    super(`${status[code] ?? code}: ${reason}`);
  }
}

/** Another member's reduction failed for a reason other than a dead or late peer (e.g. it refused a chunk). */
export class ReductionAbortedError extends CollectiveError {
  constructor(
    readonly by: PeerRef,
    readonly reason: string,
  ) {
    super(`reduction aborted by rank ${by.rank} at ${by.address}: ${reason}`);
  }
}

/** The collective was closed; no reduction can run. */
export class CollectiveClosedError extends CollectiveError {
  constructor() {
    super('collective is closed');
  }
}
