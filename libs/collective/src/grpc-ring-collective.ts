/**
 * {@link Collective} over gRPC: ring all-reduce between N worker processes.
 *
 * Topology. Member r sends to r+1 and receives from r−1 (mod N) on one
 * long-lived bidirectional stream per edge. The receiving member dials: member r
 * opens `Ring.Stream` on r−1 (see ring-inbound.ts for why) and serves the stream
 * that r+1 opens on it (ring-outbound.ts).
 *
 * One `allReduceSum(ctx, buffers)`:
 *  1. Fence: a generation older than the newest this member has seen for the
 *     experiment (from its own calls or from a subscriber) is refused with
 *     StaleGenerationError before anything is sent.
 *  2. Reuse the stream on the predecessor when it is bound to the same
 *     (experiment, generation) and far enough from its deadline, else dial a new
 *     one and subscribe with (experiment, generation, rank, size).
 *  3. Wait for the successor's subscription for (experiment, generation). A
 *     subscription left from an older generation is closed FAILED_PRECONDITION
 *     and a fresh one awaited (the normal change of generation); a *new*
 *     subscription attempt with an older generation is refused and fails this
 *     reduction (MessageRejectedError: the successor is reducing a stale
 *     generation and will not join ours); one from a newer generation makes this
 *     member stale (StaleGenerationError).
 *  4. Run the ring (ring-reduction.ts, schedule in ring-schedule.ts) under one
 *     deadline of `timeoutMs`, counted from the call.
 *  5. On failure, tell both neighbours (Abort naming the culprit), drop both
 *     streams — a later reduction starts on fresh ones, so no byte of a failed
 *     step can leak into another — and reject with the error.
 * Calls are serialised in call order (Invariant 5: same order on every member).
 *
 * A neighbour that may be gone is told to onPeerFailure's listeners (its stream
 * failed from its side, or it has not subscribed 1 s into a reduction); one found
 * gone (peerGone) fails the reduction waiting on it at once, and every later one.
 *
 * Subscriptions are accepted only from this member's successor (rank and ring
 * size must match, else PERMISSION_DENIED); with `tls` the server also requires a
 * client certificate signed by the ring's CA.
 */
import * as grpc from '@grpc/grpc-js';
import { loadCollectiveProto, type RingClient, type RingUpstream__Output } from '@unroll/proto';
import { COLLECTIVE_DEFAULTS, formatContext, validateBuffers, validateReduceContext, type Collective, type ReduceContext } from './collective';
import { CollectiveClosedError, MessageRejectedError, PeerDeadlineError, StaleGenerationError, type PeerRef } from './collective-errors';
import { FusionPool } from './bucket-plan';
import { createReducer } from './create-reducer';
import { Deferred } from './deferred';
import { RING_TRANSPORT_DEFAULTS, channelCredentials, channelOptions, type RingTlsOptions, type RingTransportOptions } from './grpc-options';
import type { Reducer, ReducerKind } from './reducer';
import { abortFor } from './ring-abort';
import { RingInbound } from './ring-inbound';
import { endWithStatus, RingOutbound, type RingServerStream } from './ring-outbound';
import { RingReduction } from './ring-reduction';
import { RingServer, type FetchStateCall, type RingServiceHandler } from './ring-server';
import { serveFetchState, type StateSource } from './state-transfer';

/** A ring member as the coordinator names it. */
export type RingPeer = PeerRef;

export interface GrpcRingCollectiveOptions {
  /** This member's rank, 0 .. peers.length−1. */
  rank: number;
  /** Every member, this one included, one per rank 0 .. N−1 (host:port each). */
  peers: RingPeer[];
  /** host:port to listen on. @defaultValue this member's own address in `peers`. Ignored when `server` is given. */
  listenAddress?: string;
  /** A server already bound with {@link RingServer.bind} (to learn a port-0 address before the ring is formed). The collective takes ownership. */
  server?: RingServer;
  /** Mutual TLS; insecure when absent (loopback, tests). */
  tls?: RingTlsOptions;
  /** @defaultValue 4 MiB — see COLLECTIVE_DEFAULTS. */
  bucketBytes?: number;
  /** @defaultValue 1 MiB — see RING_TRANSPORT_DEFAULTS. */
  chunkBytes?: number;
  /** Deadline of one allReduceSum. @defaultValue 30 s — see COLLECTIVE_DEFAULTS. */
  timeoutMs?: number;
  /** Deadline of the long-lived ring stream; it is re-dialled before expiry. @defaultValue 1 h — long enough to amortise dialling, short enough to rebalance connections. */
  streamLifetimeMs?: number;
  /** @defaultValue 16 MiB — see RING_TRANSPORT_DEFAULTS. */
  flowControlWindowBytes?: number;
  /** @defaultValue 10 s. */
  keepaliveTimeMs?: number;
  /** @defaultValue 5 s. */
  keepaliveTimeoutMs?: number;
  /**
   * Where `a[i] += b[i]` runs. @defaultValue 'inline' — on this project's 2-core
   * machines, with N ring processes sharing the cores, the worker thread was not
   * faster (bench/allreduce/RESULTS.md) and costs a copy into shared memory; the
   * inline loop yields to the event loop every 256 Ki elements (one 1 MiB chunk, ~0.2 ms).
   */
  reducer?: ReducerKind;
  /** Worker threads for the `worker` reducer. @defaultValue 1. */
  reducerThreads?: number;
  /** Serves FetchState to joining members; NOT_FOUND when absent. */
  stateSource?: StateSource;
}

const DEFAULT_STREAM_LIFETIME_MS = 60 * 60 * 1000;
/** How long a reduction waits for its successor's subscription before onPeerFailure's listeners are asked to look at it. */
const SUSPECT_AFTER_MS = 1000;

export class GrpcRingCollective implements Collective, RingServiceHandler {
  readonly rank: number;
  readonly size: number;
  private readonly self: PeerRef;
  private readonly predecessor: PeerRef;
  private readonly successor: PeerRef;
  private readonly transport: RingTransportOptions;
  private readonly bucketElements: number;
  private readonly timeoutMs: number;
  private readonly streamLifetimeMs: number;
  private readonly reducer: Reducer;
  private readonly fusionPool = new FusionPool();
  private readonly client: RingClient | undefined;
  /** Newest generation seen per experiment: the fencing token. */
  private readonly generations = new Map<string, number>();
  private inbound: RingInbound | undefined;
  private outbound: RingOutbound | undefined;
  private subscribed = new Deferred();
  private current: RingReduction | undefined;
  /** Context of the reduction in progress (waiting for the successor or running). */
  private reducing: ReduceContext | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly peerFailureListeners = new Set<(peer: PeerRef, error: PeerDeadlineError) => void>();
  private readonly peers: readonly PeerRef[];
  /** Set by peerGone: why no reduction of this member list can complete. */
  private gone: PeerDeadlineError | undefined;

  private constructor(
    options: GrpcRingCollectiveOptions,
    private readonly server: RingServer,
  ) {
    this.rank = options.rank;
    this.size = options.peers.length;
    this.peers = options.peers.map((p) => ({ rank: p.rank, address: p.address }));
    this.self = options.peers[this.rank];
    this.predecessor = options.peers[(this.rank - 1 + this.size) % this.size];
    this.successor = options.peers[(this.rank + 1) % this.size];
    this.transport = transportOf(options);
    this.bucketElements = Math.floor((options.bucketBytes ?? COLLECTIVE_DEFAULTS.bucketBytes) / 4);
    this.timeoutMs = options.timeoutMs ?? COLLECTIVE_DEFAULTS.timeoutMs;
    this.streamLifetimeMs = options.streamLifetimeMs ?? DEFAULT_STREAM_LIFETIME_MS;
    this.reducer = createReducer(options.reducer ?? 'inline', options.reducerThreads);
    this.stateSource = options.stateSource;
    if (this.size > 1) {
      const Ring = loadCollectiveProto().unroll.v1.Ring;
      this.client = new Ring(this.predecessor.address, channelCredentials(this.transport.tls), channelOptions(this.transport));
    }
    server.attach(this);
  }

  private readonly stateSource: StateSource | undefined;

  /** Validates the options, binds the server (unless given one) and returns the member, ready to serve. */
  static async start(options: GrpcRingCollectiveOptions): Promise<GrpcRingCollective> {
    validateOptions(options);
    const server = options.server ?? (await RingServer.bind(options.listenAddress ?? options.peers[options.rank].address, transportOf(options)));
    return new GrpcRingCollective(options, server);
  }

  /** host:port this member listens on. */
  get address(): string {
    return this.server.address;
  }

  allReduceSum(ctx: ReduceContext, buffers: Float32Array[]): Promise<void> {
    try {
      validateReduceContext(ctx);
      validateBuffers(buffers);
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.queue.then(() => this.reduce(ctx, buffers));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Calls `listener` whenever a stream to a neighbour fails from the far side or the
   * transport — between reductions too, since the streams outlive them — or the
   * successor has not subscribed 1 s into a reduction, with the error naming the
   * neighbour. Not for this member's own closes and aborts. The neighbour may be
   * gone, or may only have re-dialled (a new generation): the listener finds out
   * which (ring-probe.ts) and calls peerGone if it is gone. Returns a function that
   * removes the listener.
   */
  onPeerFailure(listener: (peer: PeerRef, error: PeerDeadlineError) => void): () => void {
    this.peerFailureListeners.add(listener);
    return () => void this.peerFailureListeners.delete(listener);
  }

  /**
   * Tells the collective that the member at `rank` is gone (its process was found
   * dead): a reduction in progress, or waiting for a stream the member would have
   * opened, fails now with a PeerDeadlineError naming it instead of at its deadline,
   * and so does every later one — this member list can no longer reduce (a new
   * generation without it makes a new collective).
   */
  peerGone(rank: number, reason: string): void {
    if (rank === this.rank || !Number.isInteger(rank) || rank < 0 || rank >= this.size || this.gone) return;
    this.gone = new PeerDeadlineError(this.peers[rank], reason);
    if (this.reducing) this.failReducing(this.gone);
  }

  /** A member was found gone (peerGone): no reduction of this member list can complete. */
  get isGone(): boolean {
    return this.gone !== undefined;
  }

  private readonly peerFailed = (error: PeerDeadlineError): void => {
    if (this.closed) return;
    for (const listener of [...this.peerFailureListeners]) {
      try {
        listener(error.peer, error);
      } catch {
        // the listener's trouble; the edge has failed either way
      }
    }
  };

  async close(): Promise<void> {
    if (this.closed) return;
    this.peerFailureListeners.clear();
    this.closed = true;
    const error = new CollectiveClosedError();
    this.current?.fail(error);
    this.outbound?.close(grpc.status.CANCELLED, 'ring member closing', undefined, error);
    this.inbound?.close(error);
    this.outbound = undefined;
    this.inbound = undefined;
    this.subscribed.reject(error);
    this.server.shutdown();
    this.client?.close();
    await this.queue;
    await this.reducer.close();
  }

  // --- server side -------------------------------------------------------

  /** A successor subscribes: check it, then make it the outbound edge. */
  stream(call: RingServerStream): void {
    const onFirst = (message: RingUpstream__Output): void => {
      const s = message.subscribe;
      if (message.body !== 'subscribe' || !s) {
        endWithStatus(call, grpc.status.INVALID_ARGUMENT, `first message must be subscribe, got '${message.body ?? 'none'}'`);
        return;
      }
      if (this.closed) {
        endWithStatus(call, grpc.status.UNAVAILABLE, 'ring member closing');
        return;
      }
      if (s.rank !== this.successor.rank || s.size !== this.size) {
        endWithStatus(call, grpc.status.PERMISSION_DENIED, `rank ${s.rank} of a ring of ${s.size} is not the successor of rank ${this.rank} of ${this.size}`);
        return;
      }
      const generation = Number(s.generation);
      const newest = this.generations.get(s.experiment) ?? -1;
      if (generation < newest) {
        const reason = `successor rank ${s.rank} subscribed with generation ${generation}; generation ${newest} exists`;
        endWithStatus(call, grpc.status.FAILED_PRECONDITION, reason, newest);
        // A successor that starts a reduction in an older generation will not take part in ours.
        if (this.reducing?.experiment === s.experiment) this.failReducing(new MessageRejectedError(grpc.status.FAILED_PRECONDITION, reason));
        return;
      }
      this.generations.set(s.experiment, generation);
      const previous = this.outbound;
      this.outbound = new RingOutbound(call, this.successor, { experiment: s.experiment, generation }, this.peerFailed);
      if (previous) {
        const reason = generation > previous.subscriber.generation ? new StaleGenerationError(previous.subscriber.generation, generation, 'successor subscribed to a newer generation') : undefined;
        previous.close(grpc.status.ABORTED, 'superseded by a new subscription', undefined, reason);
      }
      const subscribed = this.subscribed;
      this.subscribed = new Deferred();
      subscribed.resolve();
    };
    call.once('data', onFirst);
    call.on('error', () => undefined);
  }

  fetchState(call: FetchStateCall): void {
    const newest = this.generations.get(call.request.experiment) ?? -1;
    serveFetchState(call, this.stateSource, this.transport.chunkBytes, newest).catch((error: Error) =>
      endWithStatus(call, grpc.status.INTERNAL, `FetchState failed: ${error.message}`),
    );
  }

  // --- one reduction -------------------------------------------------------

  private async reduce(ctx: ReduceContext, buffers: Float32Array[]): Promise<void> {
    if (this.closed) throw new CollectiveClosedError();
    const newest = this.generations.get(ctx.experiment) ?? -1;
    if (ctx.generation < newest) throw new StaleGenerationError(ctx.generation, newest, formatContext(ctx));
    this.generations.set(ctx.experiment, ctx.generation);
    if (this.size === 1) return;
    if (this.gone) throw this.gone;

    this.reducing = ctx;
    try {
      await this.reduceRing(ctx, buffers);
    } finally {
      this.reducing = undefined;
    }
  }

  /** Fails the reduction in progress, whether it is still waiting for its successor or running. */
  private failReducing(error: Error): void {
    if (this.current) this.current.fail(error);
    else {
      const subscribed = this.subscribed;
      this.subscribed = new Deferred();
      subscribed.reject(error);
    }
  }

  private async reduceRing(ctx: ReduceContext, buffers: Float32Array[]): Promise<void> {
    const started = Date.now();
    const inbound = this.inboundFor(ctx, started + this.timeoutMs);
    let outbound: RingOutbound;
    try {
      outbound = await this.outboundFor(ctx, started + this.timeoutMs);
    } catch (error) {
      this.dropStreams(ctx, error as Error);
      throw error;
    }
    const reduction = new RingReduction({
      rank: this.rank,
      size: this.size,
      ctx,
      buffers,
      bucketElements: this.bucketElements,
      chunkElements: Math.floor(this.transport.chunkBytes / 4),
      inbound,
      outbound,
      reducer: this.reducer,
      fusionPool: this.fusionPool,
      timeoutMs: Math.max(1, started + this.timeoutMs - Date.now()),
    });
    this.current = reduction;
    try {
      await reduction.run();
    } catch (error) {
      this.dropStreams(ctx, error as Error);
      throw error;
    } finally {
      this.current = undefined;
    }
  }

  private inboundFor(ctx: ReduceContext, deadline: number): RingInbound {
    const i = this.inbound;
    if (i && !i.closed && i.binding.experiment === ctx.experiment && i.binding.generation === ctx.generation && i.expiresAt > deadline + 1_000) {
      return i;
    }
    i?.close();
    if (!this.client) throw new Error('no predecessor in a ring of one');
    this.inbound = new RingInbound(this.client, this.predecessor, { experiment: ctx.experiment, generation: ctx.generation, rank: this.rank, size: this.size }, Math.max(this.streamLifetimeMs, this.timeoutMs * 2), this.peerFailed);
    return this.inbound;
  }

  private async outboundFor(ctx: ReduceContext, deadline: number): Promise<RingOutbound> {
    for (;;) {
      const o = this.outbound;
      if (o && !o.closed) {
        const { experiment, generation } = o.subscriber;
        if (experiment === ctx.experiment && generation === ctx.generation) return o;
        if (experiment === ctx.experiment && generation > ctx.generation) throw new StaleGenerationError(ctx.generation, generation, `successor rank ${this.successor.rank} subscribed`);
        o.close(grpc.status.FAILED_PRECONDITION, `subscription ${experiment}/g${generation} does not match reduction ${formatContext(ctx)}`, ctx.generation);
        this.outbound = undefined;
      }
      const remaining = deadline - Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new PeerDeadlineError(this.successor, `did not open its ring stream within the ${this.timeoutMs} ms deadline of reduction ${formatContext(ctx)}`)),
          Math.max(0, remaining),
        );
      });
      // A successor that is slow to subscribe may be gone (before a ring's first
      // reduction there is no stream whose failure would say so): the listeners look.
      const suspect = setTimeout(() => this.peerFailed(new PeerDeadlineError(this.successor, `has not opened its ring stream ${SUSPECT_AFTER_MS} ms into reduction ${formatContext(ctx)}`)), SUSPECT_AFTER_MS);
      try {
        await Promise.race([this.subscribed.promise, timeout]);
      } finally {
        clearTimeout(timer);
        clearTimeout(suspect);
      }
    }
  }

  /** After a failed reduction: tell both neighbours who is blamed, then drop both streams. */
  private dropStreams(ctx: ReduceContext, error: Error): void {
    const abort = abortFor(ctx, this.self, error);
    this.outbound?.abort({ abort }, error.message);
    this.inbound?.abort(abort, error);
    this.outbound = undefined;
    this.inbound = undefined;
  }
}

function transportOf(options: GrpcRingCollectiveOptions): RingTransportOptions {
  return {
    chunkBytes: options.chunkBytes ?? RING_TRANSPORT_DEFAULTS.chunkBytes,
    flowControlWindowBytes: options.flowControlWindowBytes ?? RING_TRANSPORT_DEFAULTS.flowControlWindowBytes,
    keepaliveTimeMs: options.keepaliveTimeMs ?? RING_TRANSPORT_DEFAULTS.keepaliveTimeMs,
    keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? RING_TRANSPORT_DEFAULTS.keepaliveTimeoutMs,
    tls: options.tls,
  };
}

function validateOptions(o: GrpcRingCollectiveOptions): void {
  const n = o.peers?.length ?? 0;
  if (n < 1) throw new TypeError('GrpcRingCollective peers must list at least one member');
  if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= n) throw new TypeError(`GrpcRingCollective rank must be an integer in 0..${n - 1}, got ${o.rank}`);
  o.peers.forEach((p, i) => {
    if (p.rank !== i) throw new TypeError(`GrpcRingCollective peers[${i}].rank must be ${i}, got ${p.rank}`);
    if (typeof p.address !== 'string' || !/^.+:\d+$/.test(p.address)) throw new TypeError(`GrpcRingCollective peers[${i}].address must be host:port, got ${JSON.stringify(p.address)}`);
  });
  const positive: Array<keyof GrpcRingCollectiveOptions> = ['bucketBytes', 'chunkBytes', 'timeoutMs', 'streamLifetimeMs', 'flowControlWindowBytes', 'keepaliveTimeMs', 'keepaliveTimeoutMs'];
  for (const field of positive) {
    const v = o[field];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)) throw new TypeError(`GrpcRingCollective ${field} must be a positive integer, got ${String(v)}`);
  }
  for (const field of ['bucketBytes', 'chunkBytes'] as const) {
    const v = o[field];
    if (v !== undefined && v % 4 !== 0) throw new TypeError(`GrpcRingCollective ${field} must be a multiple of 4 (float32), got ${v}`);
  }
  if (o.reducer !== undefined && o.reducer !== 'worker' && o.reducer !== 'inline') throw new TypeError(`GrpcRingCollective reducer must be 'worker' or 'inline', got ${JSON.stringify(o.reducer)}`);
}
