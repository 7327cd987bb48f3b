/**
 * The gRPC server of one ring member: the `unroll.v1.Ring` service and the
 * standard `grpc.health.v1.Health` service (from grpc-health-check), bound before
 * the ring is formed so that a member can listen on port 0 and learn its address.
 * Calls are delegated to the attached collective. A call that arrives before one
 * is attached — a neighbour that formed the ring first, while this member still
 * loads the experiment — is held until one is, for up to HOLD_MS, then fails
 * UNAVAILABLE; meanwhile health reports NOT_SERVING.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { loadCollectiveProto, type FetchStateRequest__Output, type RingHandlers, type StateChunk } from '@unroll/proto';
import { RING_TRANSPORT_DEFAULTS, serverCredentials, serverOptions, type RingTransportOptions } from './grpc-options';
import type { RingServerStream } from './ring-outbound';

export type FetchStateCall = grpc.ServerWritableStream<FetchStateRequest__Output, StateChunk>;

/** What the server delegates to. */
export interface RingServiceHandler {
  stream(call: RingServerStream): void;
  fetchState(call: FetchStateCall): void;
}

/** How long a call waits for a collective to be attached (the collective's reduction deadline, COLLECTIVE_DEFAULTS.timeoutMs). */
export const HOLD_MS = 30_000;

type HeldCall = { kind: 'stream'; call: RingServerStream } | { kind: 'fetchState'; call: FetchStateCall };

/** Health service names reported by a ring member. */
export const RING_SERVICE_NAME = 'unroll.v1.Ring';

export class RingServer {
  private handler: RingServiceHandler | undefined;
  private stopped = false;
  /** Calls that arrived before a collective was attached, with the timer that gives up on each. */
  private readonly held = new Map<HeldCall, NodeJS.Timeout>();
  readonly health = new HealthImplementation({ '': 'NOT_SERVING', [RING_SERVICE_NAME]: 'NOT_SERVING' });

  private constructor(
    private readonly server: grpc.Server,
    /** host:port actually bound (the port filled in when 0 was asked for). */
    readonly address: string,
  ) {}

  /** Binds `address` (host:port; port 0 picks a free one). Transport options default to RING_TRANSPORT_DEFAULTS and must match the collective's. */
  static async bind(address: string, options: Partial<RingTransportOptions> = {}): Promise<RingServer> {
    const transport: RingTransportOptions = { ...RING_TRANSPORT_DEFAULTS, ...options };
    const server = new grpc.Server(serverOptions(transport));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, serverCredentials(transport.tls), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const host = address.slice(0, address.lastIndexOf(':'));
    const ring = new RingServer(server, `${host}:${port}`);
    const handlers: RingHandlers = {
      Stream: (call) => (ring.handler ? ring.handler.stream(call) : ring.hold({ kind: 'stream', call })),
      FetchState: (call) => (ring.handler ? ring.handler.fetchState(call) : ring.hold({ kind: 'fetchState', call })),
    };
    server.addService(loadCollectiveProto().unroll.v1.Ring.service, handlers);
    ring.health.addToServer(server);
    return ring;
  }

  /** Routes calls to `handler` and reports SERVING. */
  attach(handler: RingServiceHandler): void {
    this.handler = handler;
    this.setServing(true);
    for (const held of [...this.held.keys()]) {
      this.release(held);
      if (held.kind === 'stream') handler.stream(held.call);
      else handler.fetchState(held.call);
    }
  }

  setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    this.health.setStatus(RING_SERVICE_NAME, status);
  }

  /** Stops at once: open calls are cancelled. Idempotent. */
  shutdown(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.setServing(false);
    this.handler = undefined;
    for (const held of [...this.held.keys()]) {
      this.release(held);
      this.unavailable(held.call, 'ring member shutting down');
    }
    this.server.forceShutdown();
  }

  /** Keeps `held.call` (its messages stay buffered: nothing reads it yet) until a collective is attached, HOLD_MS at most. */
  private hold(held: HeldCall): void {
    if (this.stopped) return this.unavailable(held.call, 'ring member shutting down');
    const timer = setTimeout(() => {
      this.release(held);
      this.unavailable(held.call, `ring member not ready within ${HOLD_MS} ms`);
    }, HOLD_MS);
    timer.unref();
    held.call.once('cancelled', () => this.release(held));
    this.held.set(held, timer);
  }

  private release(held: HeldCall): void {
    clearTimeout(this.held.get(held));
    this.held.delete(held);
  }

  private unavailable(call: RingServerStream | FetchStateCall, details: string): void {
    call.emit('error', { code: grpc.status.UNAVAILABLE, details });
  }
}
