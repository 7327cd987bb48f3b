/**
 * Failure propagation round the ring. When a member's reduction fails it sends an
 * `Abort` both ways — downstream on the stream it serves, upstream on the stream
 * it reads — naming the member it blames, so that its neighbours fail the same
 * step at once and report the same culprit rather than timing out and blaming
 * each other.
 */
import type { Abort, Abort__Output } from '@unroll/proto';
import { formatContext, type ReduceContext } from './collective';
import { PeerDeadlineError, ReductionAbortedError, type PeerRef } from './collective-errors';

/** The Abort message this member sends after failing `ctx` with `error`. */
export function abortFor(ctx: ReduceContext, self: PeerRef, error: Error): Abort {
  const tag = { experiment: ctx.experiment, generation: ctx.generation, step: ctx.step };
  if (error instanceof PeerDeadlineError) {
    return { tag, failed_rank: error.peer.rank, failed_address: error.peer.address, reason: error.reason, peer_failure: true };
  }
  if (error instanceof ReductionAbortedError) {
    return { tag, failed_rank: error.by.rank, failed_address: error.by.address, reason: error.reason, peer_failure: false };
  }
  return { tag, failed_rank: self.rank, failed_address: self.address, reason: error.message, peer_failure: false };
}

/** The error a member fails with when a neighbour's Abort arrives. */
export function errorFromAbort(abort: Abort__Output): Error {
  const peer = { rank: abort.failed_rank, address: abort.failed_address };
  const where = abort.tag ? ` (${formatContext({ experiment: abort.tag.experiment, generation: Number(abort.tag.generation), step: Number(abort.tag.step) })})` : '';
  return abort.peer_failure
    ? new PeerDeadlineError(peer, `${abort.reason}; reported by a neighbour${where}`)
    : new ReductionAbortedError(peer, `${abort.reason}${where}`);
}
