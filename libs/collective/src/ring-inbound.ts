/**
 * Receiving end of a ring edge: the stream this member opens on its predecessor
 * (the receiver dials, so that its HTTP/2 receive window — a client-side option
 * in grpc-js — governs the data direction).
 *
 * 1. Open `Ring.Stream` with wait-for-ready and a deadline of `lifetimeMs` (the
 *    stream outlives many steps; it is re-dialled before the deadline gets
 *    close, after any failed reduction, and when the generation changes).
 * 2. Send `subscribe {experiment, generation, rank, size}`.
 * 3. Queue every downstream message in a {@link MessageInbox}, which pauses the
 *    stream at its high-water mark so that HTTP/2 flow control pushes back on
 *    the sender, and resumes it when the reduction has drained it.
 * 4. When the call ends, every later `ready()` on an empty queue rejects with an
 *    error that names the predecessor (or a refusal / stale generation when the
 *    status says so).
 *
 * Messages are handed over by `ready()` (a promise of nothing) and `take()`, not
 * by a promise of the message: see {@link RingReceiveEdge.ready}.
 */
import * as grpc from '@grpc/grpc-js';
import type { Abort, RingClient, RingDownstream__Output, RingUpstream } from '@unroll/proto';
import { MessageRejectedError, PeerDeadlineError, StaleGenerationError, type PeerRef } from './collective-errors';
import { MessageInbox } from './message-inbox';


/** How long an aborted stream may take to be ended by the predecessor before it is cancelled. */
export const ABORT_GRACE_MS = 5_000;

/** Trailing-metadata key carrying the generation of a member that refuses a stream. */
export const GENERATION_METADATA_KEY = 'x-unroll-generation';

export interface InboundBinding {
  experiment: string;
  generation: number;
  /** This member's rank and the ring size, for the predecessor to check. */
  rank: number;
  size: number;
}

export class RingInbound {
  private readonly call: grpc.ClientDuplexStream<RingUpstream, RingDownstream__Output>;
  private readonly inbox: MessageInbox<RingDownstream__Output>;
  /** Epoch ms at which the call's deadline expires. */
  readonly expiresAt: number;

  constructor(
    client: RingClient,
    readonly predecessor: PeerRef,
    readonly binding: InboundBinding,
    lifetimeMs: number,
    /** Told when the stream fails from the far side or the transport (not by this member's close or abort) with a PeerDeadlineError: the predecessor may be gone. */
    private readonly onRemoteFailure?: (error: PeerDeadlineError) => void,
  ) {
    this.expiresAt = Date.now() + lifetimeMs;
    const metadata = new grpc.Metadata({ waitForReady: true });
    this.call = client.Stream(metadata, { deadline: this.expiresAt });
    this.inbox = new MessageInbox(this.call, 'RingInbound');
    this.call.on('data', (message: RingDownstream__Output) => this.inbox.push(message));
    this.call.on('error', (error: grpc.ServiceError) => this.remoteFail(this.classify(error)));
    this.call.on('end', () => this.remoteFail(new PeerDeadlineError(predecessor, 'ring stream ended by the sender')));
    this.call.write({ subscribe: { experiment: binding.experiment, generation: binding.generation, rank: binding.rank, size: binding.size } });
  }

  /** The stream has ended (or was cancelled) and must be re-dialled. */
  get closed(): boolean {
    return this.inbox.error !== undefined;
  }

  /** Resolves, with no value, once a message is queued; rejects once the stream has ended and the queue is empty. */
  ready(): Promise<void> {
    return this.inbox.ready();
  }

  /** The oldest queued message; call only after {@link ready} resolved. */
  take(): RingDownstream__Output {
    return this.inbox.take();
  }

  /** Tells the predecessor that a bucket arrived complete and checked. */
  ack(experiment: string, generation: number, step: number, bucket: number): void {
    if (!this.inbox.error) this.call.write({ ack: { tag: { experiment, generation, step }, bucket } });
  }

  /** Refuses the stream: the predecessor ends it with `code` (see {@link finish}). */
  refuse(code: grpc.status, reason: string, ownGeneration: number): void {
    this.finish({ reject: { code, reason, generation: ownGeneration } }, new MessageRejectedError(code, reason));
  }

  /**
   * Tells the predecessor this member's reduction failed, then half-closes; the
   * predecessor ends the call. Cancelled after {@link ABORT_GRACE_MS} if it does not.
   */
  abort(abort: Abort, reason: Error): void {
    this.finish({ abort }, reason);
  }

  /**
   * Sends a last message and half-closes, so that the message arrives before the
   * predecessor ends the call (a cancel would overtake it); cancels after
   * {@link ABORT_GRACE_MS} if the predecessor does not end it.
   */
  private finish(last: RingUpstream, reason: Error): void {
    if (!this.fail(reason)) return;
    this.call.write(last);
    this.call.end();
    setTimeout(() => this.call.cancel(), ABORT_GRACE_MS).unref();
  }

  /** Cancels the call; later `ready()` calls on an empty queue reject with `reason`. */
  close(reason: Error = new PeerDeadlineError(this.predecessor, 'ring stream closed locally')): void {
    this.fail(reason);
    this.call.cancel();
  }

  private fail(error: Error): boolean {
    return this.inbox.fail(error);
  }

  private remoteFail(error: Error): void {
    if (this.fail(error) && error instanceof PeerDeadlineError) this.onRemoteFailure?.(error);
  }

  private classify(error: grpc.ServiceError): Error {
    const seen = Number(error.metadata?.get(GENERATION_METADATA_KEY)[0] ?? Number.NaN);
    if (error.code === grpc.status.FAILED_PRECONDITION && seen > this.binding.generation) {
      return new StaleGenerationError(this.binding.generation, seen, `predecessor rank ${this.predecessor.rank}: ${error.details}`);
    }
    if (error.code === grpc.status.FAILED_PRECONDITION || error.code === grpc.status.INVALID_ARGUMENT || error.code === grpc.status.PERMISSION_DENIED) {
      return new MessageRejectedError(error.code, `predecessor rank ${this.predecessor.rank} refused the stream: ${error.details}`);
    }
    return new PeerDeadlineError(this.predecessor, `ring stream failed: ${grpc.status[error.code] ?? error.code} ${error.details}`);
  }
}
