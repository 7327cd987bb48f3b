/**
 * An in-process {@link Collective} for unit tests: N members share a hub and
 * meet, call by call, at a rendezvous; the k-th call of every member belongs to
 * rendezvous k. Same contract as the gRPC ring, decided centrally:
 *
 *  1. An arrival whose generation is older than the newest the hub has seen for
 *     the experiment fails the rendezvous: it gets StaleGenerationError, the
 *     members of the newer generation MessageRejectedError (FAILED_PRECONDITION).
 *  2. Arrivals whose context or buffer lengths differ from those already waiting
 *     fail the rendezvous: members with the older generation get
 *     StaleGenerationError, the others MessageRejectedError
 *     (FAILED_PRECONDITION for the context, INVALID_ARGUMENT for the lengths).
 *     Nothing is summed.
 *  3. When all N arrived, each buffer becomes the float32 sum in rank order.
 *  4. A member that closes fails every waiting member at once with
 *     PeerDeadlineError naming it; a rendezvous that is not complete after
 *     `timeoutMs` fails its waiting members with PeerDeadlineError naming the
 *     lowest absent rank.
 */
import { status } from '@grpc/grpc-js';
import { COLLECTIVE_DEFAULTS, formatContext, sameContext, validateBuffers, validateReduceContext, type Collective, type ReduceContext } from '../collective';
import {
  CollectiveClosedError,
  MessageRejectedError,
  PeerDeadlineError,
  StaleGenerationError,
  type PeerRef,
} from '../collective-errors';
import { Deferred } from '../deferred';

export interface InMemoryCollectiveOptions {
  /** @defaultValue 30 s, as the gRPC ring. */
  timeoutMs?: number;
}

interface Arrival {
  ctx: ReduceContext;
  buffers: Float32Array[];
  done: Deferred;
  timer: NodeJS.Timeout;
}

interface Rendezvous {
  arrivals: Map<number, Arrival>;
  /** Set once the rendezvous failed: later arrivals fail the same way. */
  failed?: (rank: number, ctx: ReduceContext) => Error;
}

export class InMemoryCollectiveHub {
  readonly members: InMemoryCollective[];
  private readonly rendezvous = new Map<number, Rendezvous>();
  private readonly generations = new Map<string, number>();
  private readonly closed = new Set<number>();
  private readonly timeoutMs: number;

  constructor(
    readonly size: number,
    options: InMemoryCollectiveOptions = {},
  ) {
    if (!Number.isInteger(size) || size < 1) throw new TypeError(`InMemoryCollectiveHub size must be a positive integer, got ${size}`);
    this.timeoutMs = options.timeoutMs ?? COLLECTIVE_DEFAULTS.timeoutMs;
    this.members = Array.from({ length: size }, (_, rank) => new InMemoryCollective(this, rank));
  }

  static peer(rank: number): PeerRef {
    return { rank, address: `in-memory://${rank}` };
  }

  /** @internal called by a member's allReduceSum with its k-th call. */
  arrive(rank: number, seq: number, ctx: ReduceContext, buffers: Float32Array[]): Promise<void> {
    if (this.closed.has(rank)) return Promise.reject(new CollectiveClosedError());
    this.generations.set(ctx.experiment, Math.max(ctx.generation, this.generations.get(ctx.experiment) ?? -1));

    let rv = this.rendezvous.get(seq);
    if (!rv) {
      rv = { arrivals: new Map() };
      this.rendezvous.set(seq, rv);
    }
    if (rv.failed) return Promise.reject(rv.failed(rank, ctx));
    const done = new Deferred();
    const timer = setTimeout(() => this.expire(seq, rank), this.timeoutMs);
    rv.arrivals.set(rank, { ctx, buffers, done, timer });

    const mismatch = this.mismatch(rv);
    if (mismatch) this.failRendezvous(seq, mismatch);
    else if (this.absentRank(rv) === undefined) this.complete(seq, rv);
    return done.promise;
  }

  /** @internal a member closes: every rendezvous it has not completed fails, naming it. */
  leave(rank: number): void {
    this.closed.add(rank);
    for (const seq of this.rendezvous.keys()) {
      this.failRendezvous(seq, (r) => (r === rank ? new CollectiveClosedError() : new PeerDeadlineError(InMemoryCollectiveHub.peer(rank), 'member closed during the reduction')));
    }
  }

  private mismatch(rv: Rendezvous): ((rank: number, ctx: ReduceContext) => Error) | undefined {
    const all = [...rv.arrivals.values()];
    const first = all[0];
    const newestOf = (experiment: string): number => this.generations.get(experiment) ?? -1;
    const contextDiffers = all.some((a) => !sameContext(a.ctx, first.ctx) || a.ctx.generation < newestOf(a.ctx.experiment));
    if (contextDiffers) {
      const contexts = all.map((a) => formatContext(a.ctx)).join(' vs ');
      return (_rank, ctx) =>
        ctx.generation < newestOf(ctx.experiment)
          ? new StaleGenerationError(ctx.generation, newestOf(ctx.experiment), `members disagree: ${contexts}`)
          : new MessageRejectedError(status.FAILED_PRECONDITION, `members disagree on the reduction: ${contexts}`);
    }
    const lengths = (a: Arrival): string => a.buffers.map((b) => b.length).join(',');
    if (all.some((a) => lengths(a) !== lengths(first))) {
      return () => new MessageRejectedError(status.INVALID_ARGUMENT, `members disagree on buffer lengths: ${all.map(lengths).join(' vs ')}`);
    }
    return undefined;
  }

  private absentRank(rv: Rendezvous): number | undefined {
    for (let r = 0; r < this.size; r++) if (!rv.arrivals.has(r)) return r;
    return undefined;
  }

  private complete(seq: number, rv: Rendezvous): void {
    this.rendezvous.delete(seq);
    const ordered = [...rv.arrivals.entries()].sort(([a], [b]) => a - b).map(([, a]) => a);
    const first = ordered[0].buffers;
    first.forEach((_, i) => {
      const sum = Float32Array.from(ordered[0].buffers[i]);
      for (const a of ordered.slice(1)) {
        const b = a.buffers[i];
        for (let j = 0; j < sum.length; j++) sum[j] += b[j];
      }
      for (const a of ordered) a.buffers[i].set(sum);
    });
    for (const a of ordered) {
      clearTimeout(a.timer);
      a.done.resolve();
    }
  }

  private failRendezvous(seq: number, errorFor: (rank: number, ctx: ReduceContext) => Error): void {
    const rv = this.rendezvous.get(seq);
    if (!rv) return;
    rv.failed ??= errorFor;
    for (const [rank, a] of rv.arrivals) {
      clearTimeout(a.timer);
      if (!a.done.settled) a.done.reject(rv.failed(rank, a.ctx));
    }
  }

  private expire(seq: number, rank: number): void {
    const rv = this.rendezvous.get(seq);
    const a = rv?.arrivals.get(rank);
    if (!rv || !a || a.done.settled) return;
    const absent = this.absentRank(rv) ?? rank;
    a.done.reject(new PeerDeadlineError(InMemoryCollectiveHub.peer(absent), `missed the ${this.timeoutMs} ms deadline of reduction ${formatContext(a.ctx)}`));
  }
}

/** One member of an {@link InMemoryCollectiveHub}. */
export class InMemoryCollective implements Collective {
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly hub: InMemoryCollectiveHub,
    readonly rank: number,
  ) {}

  get size(): number {
    return this.hub.size;
  }

  /** N members sharing one hub. */
  static group(size: number, options?: InMemoryCollectiveOptions): InMemoryCollective[] {
    return new InMemoryCollectiveHub(size, options).members;
  }

  allReduceSum(ctx: ReduceContext, buffers: Float32Array[]): Promise<void> {
    try {
      validateReduceContext(ctx);
      validateBuffers(buffers);
    } catch (error) {
      return Promise.reject(error);
    }
    const seq = this.seq++;
    const run = this.queue.then(() => this.hub.arrive(this.rank, seq, ctx, buffers));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.hub.leave(this.rank);
  }
}
