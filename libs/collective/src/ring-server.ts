/**
 * The gRPC server of one ring member: the `unroll.v1.Ring` service and the
 * standard `grpc.health.v1.Health` service (from grpc-health-check), bound before
 * the ring is formed so that a member can listen on port 0 and learn its address.
 * Calls are delegated to the attached collective; until one is attached, they
 * fail UNAVAILABLE and health reports NOT_SERVING.
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

/** Health service names reported by a ring member. */
export const RING_SERVICE_NAME = 'unroll.v1.Ring';

export class RingServer {
  private handler: RingServiceHandler | undefined;
  private stopped = false;
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
      Stream: (call) => (ring.handler ? ring.handler.stream(call) : ring.unavailable(call)),
      FetchState: (call) => (ring.handler ? ring.handler.fetchState(call) : ring.unavailable(call)),
    };
    server.addService(loadCollectiveProto().unroll.v1.Ring.service, handlers);
    ring.health.addToServer(server);
    return ring;
  }

  /** Routes calls to `handler` and reports SERVING. */
  attach(handler: RingServiceHandler): void {
    this.handler = handler;
    this.setServing(true);
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
    this.server.forceShutdown();
  }

  private unavailable(call: RingServerStream | FetchStateCall): void {
    call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'ring member not ready' });
  }
}
