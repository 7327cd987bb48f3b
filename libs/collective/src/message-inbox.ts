/**
 * The queue between a ring stream's incoming messages and the reduction that
 * takes them (RingReceiveEdge): `ready()` resolves with nothing once a message is
 * queued and `take()` hands over the oldest, so that no promise ever holds a
 * message (see RingReceiveEdge.ready); the source is paused while
 * {@link INBOX_HIGH_WATER} messages wait and resumed once half of them are taken,
 * so that the transport's flow control pushes back on the sender. Shared by the
 * gRPC edge (RingInbound) and the benchmark's raw-TCP edge.
 */
import { Deferred } from './deferred';

/** Messages queued before the source is paused (about 8 MiB of chunks). */
export const INBOX_HIGH_WATER = 8;

/** What the inbox pauses and resumes: a gRPC call, a socket. */
export interface PausableSource {
  pause(): unknown;
  resume(): unknown;
}

export class MessageInbox<T> {
  private readonly queue: T[] = [];
  private waiter: Deferred | undefined;
  private failure: Error | undefined;
  private paused = false;

  constructor(
    private readonly source: PausableSource,
    /** Names the owner in the error of a take() without a queued message. */
    private readonly owner: string,
  ) {}

  /** The failure, once {@link fail} was called. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Resolves, with no value, once a message is queued; rejects once failed and empty. */
  ready(): Promise<void> {
    if (this.queue.length > 0) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    this.waiter ??= new Deferred();
    return this.waiter.promise;
  }

  /** The oldest queued message; call only after {@link ready} resolved. */
  take(): T {
    const message = this.queue.shift();
    if (message === undefined) throw new Error(`${this.owner}.take() with no message queued (await ready() first)`);
    if (this.paused && this.queue.length <= INBOX_HIGH_WATER / 2) {
      this.paused = false;
      this.source.resume();
    }
    return message;
  }

  /** Queues a message from the source; ignored once failed. */
  push(message: T): void {
    if (this.failure) return;
    this.queue.push(message);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
    if (!this.paused && this.queue.length >= INBOX_HIGH_WATER) {
      this.paused = true;
      this.source.pause();
    }
  }

  /** Records the first failure; a waiting `ready()` rejects with it. False when already failed. */
  fail(error: Error): boolean {
    if (this.failure) return false;
    this.failure = error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
    return true;
  }
}
