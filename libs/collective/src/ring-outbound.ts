/**
 * Sending end of a ring edge: the stream the successor opened on this member,
 * after its `subscribe` was accepted.
 *
 * - `send` honours flow control: when `write()` returns false it waits for
 *   'drain' before the next message (the HTTP/2 window of the receiver bounds
 *   what is in flight).
 * - `acked(step, bucket)` resolves when the successor acknowledges a bucket.
 * - A `reject` from the successor ends the call with the status code it names
 *   (the gRPC-visible refusal) and fails every pending send and ack.
 * - Cancellation, a transport error or a half-close by the successor fail
 *   everything pending with a PeerDeadlineError naming the successor.
 */
import * as grpc from '@grpc/grpc-js';
import type { RingDownstream, RingUpstream__Output } from '@unroll/proto';
import { MessageRejectedError, PeerDeadlineError, StaleGenerationError, type PeerRef } from './collective-errors';
import { Deferred } from './deferred';
import { FailureListeners } from './failure-listeners';
import { errorFromAbort } from './ring-abort';
import { GENERATION_METADATA_KEY } from './ring-inbound';

export type RingServerStream = grpc.ServerDuplexStream<RingUpstream__Output, RingDownstream>;

export interface Subscriber {
  experiment: string;
  generation: number;
}

/** The part of a server call that can be ended with a status. */
export interface EndableCall {
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
  emit(event: 'error', status: Partial<grpc.StatusObject>): boolean;
}

/** Ends a server call with a status (and this member's generation in the trailers); a no-op on an ended call. */
export function endWithStatus(call: EndableCall, code: grpc.status, details: string, generation?: number): void {
  if (call.writableEnded || call.destroyed) return;
  const metadata = new grpc.Metadata();
  if (generation !== undefined) metadata.set(GENERATION_METADATA_KEY, String(generation));
  call.emit('error', { code, details, metadata });
}

export class RingOutbound {
  private drain: Deferred | undefined;
  private readonly acks = new Map<string, Deferred>();
  private unflushed = 0;
  private flushWaiters: Deferred[] = [];
  private readonly failures = new FailureListeners();

  constructor(
    private readonly call: RingServerStream,
    readonly successor: PeerRef,
    readonly subscriber: Subscriber,
    /** Told when the stream fails from the far side or the transport (not by this member's close or abort): the successor may be gone. */
    private readonly onRemoteFailure?: (error: PeerDeadlineError) => void,
  ) {
    call.on('data', (message: RingUpstream__Output) => this.onMessage(message));
    call.on('drain', () => this.releaseDrain());
    call.on('cancelled', () => this.remoteFail(new PeerDeadlineError(successor, 'ring stream cancelled by the receiver')));
    call.on('error', (error: Error) => this.remoteFail(new PeerDeadlineError(successor, `ring stream failed: ${error.message}`)));
    call.on('end', () => {
      this.remoteFail(new PeerDeadlineError(successor, 'receiver closed the ring stream'));
      call.end();
    });
  }

  /** Calls `listener` once when the edge fails (at once if it has); returns a function that removes it (RingSendEdge). */
  onFailure(listener: (error: Error) => void): () => void {
    return this.failures.add(listener);
  }

  get closed(): boolean {
    return this.failures.error !== undefined;
  }

  /** Writes one message; resolves when the stream can take another. */
  async send(message: RingDownstream): Promise<void> {
    const failure = this.failures.error;
    if (failure) throw failure;
    this.unflushed++;
    const writable = this.call.write(message, () => this.onFlushed());
    if (writable) return;
    this.drain ??= new Deferred();
    await this.drain.promise;
  }

  /** Resolves when every message written so far has been serialised by grpc-js. */
  flushed(): Promise<void> {
    if (this.unflushed === 0) return Promise.resolve();
    const waiter = new Deferred();
    this.flushWaiters.push(waiter);
    return waiter.promise;
  }

  private onFlushed(): void {
    if (--this.unflushed > 0) return;
    for (const w of this.flushWaiters.splice(0)) w.resolve();
  }

  /** Resolves when the successor acknowledges `bucket` of `step`. */
  acked(step: number, bucket: number): Promise<void> {
    const forget = (): boolean => this.acks.delete(`${step}/${bucket}`);
    return this.ackFor(step, bucket).promise.then(
      () => void forget(),
      (error: Error) => {
        forget();
        throw error;
      },
    );
  }

  /** Tells the successor the reduction failed (naming the culprit), then ends the stream ABORTED. */
  abort(message: RingDownstream, details: string): void {
    if (this.failures.error) return;
    this.call.write(message);
    this.close(grpc.status.ABORTED, details);
  }

  /** Ends the stream with a status; pending sends and acks fail with `error`. */
  close(code: grpc.status, details: string, generation?: number, error?: Error): void {
    this.fail(error ?? new PeerDeadlineError(this.successor, `ring stream closed locally: ${details}`));
    endWithStatus(this.call, code, details, generation);
  }

  private onMessage(message: RingUpstream__Output): void {
    if (message.body === 'ack' && message.ack) {
      this.ackFor(Number(message.ack.tag?.step ?? -1), message.ack.bucket).resolve();
    } else if (message.body === 'reject' && message.reject) {
      const { code, reason } = message.reject;
      const theirs = Number(message.reject.generation);
      const error =
        code === grpc.status.FAILED_PRECONDITION && theirs > this.subscriber.generation
          ? new StaleGenerationError(this.subscriber.generation, theirs, `successor rank ${this.successor.rank}: ${reason}`)
          : new MessageRejectedError(code, `successor rank ${this.successor.rank} refused a chunk: ${reason}`);
      this.fail(error);
      endWithStatus(this.call, code, reason);
    } else if (message.body === 'abort' && message.abort) {
      this.fail(errorFromAbort(message.abort));
      endWithStatus(this.call, grpc.status.ABORTED, `receiver aborted: ${message.abort.reason}`);
    } else {
      this.fail(new MessageRejectedError(grpc.status.INVALID_ARGUMENT, `unexpected upstream message '${message.body ?? 'none'}'`));
      endWithStatus(this.call, grpc.status.INVALID_ARGUMENT, `unexpected upstream message '${message.body ?? 'none'}'`);
    }
  }

  private ackFor(step: number, bucket: number): Deferred {
    const key = `${step}/${bucket}`;
    let ack = this.acks.get(key);
    if (!ack) {
      ack = new Deferred();
      const failure = this.failures.error;
      if (failure) ack.reject(failure);
      this.acks.set(key, ack);
    }
    return ack;
  }

  private releaseDrain(): void {
    const drain = this.drain;
    this.drain = undefined;
    drain?.resolve();
  }

  private remoteFail(error: PeerDeadlineError): void {
    if (this.fail(error)) this.onRemoteFailure?.(error);
  }

  /** Fails everything pending; false when the edge had already failed. */
  private fail(error: Error): boolean {
    if (!this.failures.fail(error)) return false;
    this.drain?.reject(error);
    this.drain = undefined;
    for (const w of this.flushWaiters.splice(0)) w.reject(error);
    for (const ack of this.acks.values()) if (!ack.settled) ack.reject(error);
    return true;
  }
}
