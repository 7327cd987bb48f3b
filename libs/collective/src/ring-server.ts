/**
 * The gRPC server of one ring member: the `unroll.v1.Ring` service and the
 * standard `grpc.health.v1.Health` service (from grpc-health-check), bound before
 * the ring is formed so that a member can listen on port 0 and learn its address.
 * Calls are delegated to the attached collective. A ring stream that arrives
 * before one is attached — a neighbour that formed the ring first, while this
 * member still loads the experiment — is held until one is, for up to `holdMs`
 * (default: the reduction deadline), then fails UNAVAILABLE; its messages stay
 * buffered meanwhile. (A neighbour of a member that never attaches — an observer,
 * a member whose ring failed — thus learns it at its reduction's deadline; that
 * member reports its own failure at once.) A FetchState call before a collective
 * is attached fails UNAVAILABLE at once: the joiner asks another member. Health
 * reports NOT_SERVING until the first attach.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { loadCollectiveProto, type FetchStateRequest__Output, type RingHandlers, type StateChunk } from '@unroll/proto';
import { RING_TRANSPORT_DEFAULTS, serverCredentials, serverOptions, type RingTransportOptions } from './grpc-options';
import { COLLECTIVE_DEFAULTS } from './collective';
import { endWithStatus, type RingServerStream } from './ring-outbound';

export type FetchStateCall = grpc.ServerWritableStream<FetchStateRequest__Output, StateChunk>;

/** What the server delegates to. */
export interface RingServiceHandler {
  stream(call: RingServerStream): void;
  fetchState(call: FetchStateCall): void;
}

/** Health service names reported by a ring member. */
export const RING_SERVICE_NAME = 'unroll.v1.Ring';

export class RingServer {
  private handler: RingServiceHandler | undefined;
  private stopped = false;
  /** Ring streams that arrived before a collective was attached, with the timer that gives up on each. */
  private readonly held = new Map<RingServerStream, NodeJS.Timeout>();
  readonly health = new HealthImplementation({ '': 'NOT_SERVING', [RING_SERVICE_NAME]: 'NOT_SERVING' });

  private constructor(
    private readonly server: grpc.Server,
    /** host:port actually bound (the port filled in when 0 was asked for). */
    readonly address: string,
    private readonly holdMs: number,
  ) {}

  /**
   * Binds `address` (host:port; port 0 picks a free one). Transport options default to
   * RING_TRANSPORT_DEFAULTS and must match the collective's; `holdMs`: how long a ring
   * stream waits for a collective to be attached (default COLLECTIVE_DEFAULTS.timeoutMs).
   */
  static async bind(address: string, options: Partial<RingTransportOptions> = {}, { holdMs = COLLECTIVE_DEFAULTS.timeoutMs }: { holdMs?: number } = {}): Promise<RingServer> {
    const transport: RingTransportOptions = { ...RING_TRANSPORT_DEFAULTS, ...options };
    const server = new grpc.Server(serverOptions(transport));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, serverCredentials(transport.tls), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const host = address.slice(0, address.lastIndexOf(':'));
    const ring = new RingServer(server, `${host}:${port}`, holdMs);
    const handlers: RingHandlers = {
      Stream: (call) => (ring.handler ? ring.handler.stream(call) : ring.hold(call)),
      FetchState: (call) => (ring.handler ? ring.handler.fetchState(call) : endWithStatus(call, grpc.status.UNAVAILABLE, 'ring member not ready')),
    };
    server.addService(loadCollectiveProto().unroll.v1.Ring.service, handlers);
    ring.health.addToServer(server);
    return ring;
  }

  /** Routes calls to `handler` and reports SERVING. */
  attach(handler: RingServiceHandler): void {
    this.handler = handler;
    this.setServing(true);
    for (const call of [...this.held.keys()]) {
      this.release(call);
      try {
        handler.stream(call);
      } catch (error) {
        endWithStatus(call, grpc.status.INTERNAL, `ring member failed to take the stream: ${(error as Error).message}`);
      }
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
    for (const call of [...this.held.keys()]) {
      this.release(call);
      endWithStatus(call, grpc.status.UNAVAILABLE, 'ring member shutting down');
    }
    this.server.forceShutdown();
  }

  /** Keeps `call` (its messages stay buffered: nothing reads it yet) until a collective is attached, holdMs at most. */
  private hold(call: RingServerStream): void {
    if (this.stopped) return endWithStatus(call, grpc.status.UNAVAILABLE, 'ring member shutting down');
    const timer = setTimeout(() => {
      this.release(call);
      endWithStatus(call, grpc.status.UNAVAILABLE, `ring member not ready within ${this.holdMs} ms`);
    }, this.holdMs);
    timer.unref();
    call.once('cancelled', () => this.release(call));
    this.held.set(call, timer);
  }

  private release(call: RingServerStream): void {
    clearTimeout(this.held.get(call));
    this.held.delete(call);
  }
}
