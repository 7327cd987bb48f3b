/**
 * The ring's wire behaviour seen from outside: a hand-written peer speaks the
 * protocol to a real member and checks refusals, status codes, health and
 * FetchState.
 */
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { loadCollectiveProto, type Chunk, type RingClient, type RingHandlers, type RingUpstream__Output } from '@unroll/proto';
import { MessageRejectedError, StaleGenerationError } from './collective-errors';
import { GrpcRingCollective } from './grpc-ring-collective';
import { RingServer } from './ring-server';
import { fetchState, type StateSnapshot } from './state-transfer';

const Ring = loadCollectiveProto().unroll.v1.Ring;
const ctx = { experiment: 'proto-test', generation: 3, step: 9 };

/** A fake rank 0 of a ring of two: serves member 1's subscription with `chunk`, and subscribes to member 1. */
async function fakePredecessor(chunk: Chunk): Promise<{ address: string; upstream: Promise<RingUpstream__Output[]>; status: Promise<grpc.StatusObject | undefined>; close(): void; subscribeTo(address: string): void }> {
  const server = new grpc.Server();
  let resolveUpstream!: (m: RingUpstream__Output[]) => void;
  const upstream = new Promise<RingUpstream__Output[]>((resolve) => (resolveUpstream = resolve));
  const handlers: RingHandlers = {
    Stream: (call) => {
      const received: RingUpstream__Output[] = [];
      call.on('data', (m: RingUpstream__Output) => {
        received.push(m);
        if (m.body === 'subscribe') call.write({ chunk });
        if (m.body === 'reject') {
          resolveUpstream(received);
          call.emit('error', { code: m.reject?.code, details: m.reject?.reason });
        }
      });
      call.on('error', () => undefined);
      call.on('cancelled', () => resolveUpstream(received));
    },
    FetchState: (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
  };
  server.addService(Ring.service, handlers);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  let client: RingClient | undefined;
  let statusResolve!: (s: grpc.StatusObject | undefined) => void;
  const status = new Promise<grpc.StatusObject | undefined>((resolve) => (statusResolve = resolve));
  return {
    address: `127.0.0.1:${port}`,
    upstream,
    status,
    subscribeTo(address) {
      client = new Ring(address, grpc.credentials.createInsecure());
      const call = client.Stream();
      call.on('data', () => undefined);
      call.on('status', (s) => statusResolve(s));
      call.on('error', () => undefined);
      call.write({ subscribe: { experiment: ctx.experiment, generation: ctx.generation, rank: 0, size: 2 } });
    },
    close() {
      client?.close();
      server.forceShutdown();
    },
  };
}

function goodChunk(): Chunk {
  // Member 1 of 2 with one buffer of 8 elements first expects reduce-scatter round 0, segment 0 = elements [0, 4).
  return { tag: ctx, bucket: 0, phase: 'REDUCE_SCATTER', round: 0, segment: 0, offset: 0, total_elements: 8, dtype: 'FLOAT32', payload: Buffer.from(new Float32Array([1, 1, 1, 1]).buffer) };
}

describe('ring protocol', () => {
  it.each<[string, grpc.status, Partial<Chunk>, new (...args: never[]) => Error]>([
    ['offset', grpc.status.INVALID_ARGUMENT, { offset: 2 }, MessageRejectedError],
    ['payload length', grpc.status.INVALID_ARGUMENT, { payload: Buffer.alloc(12) }, MessageRejectedError],
    ['dtype', grpc.status.INVALID_ARGUMENT, { dtype: 'DTYPE_UNSPECIFIED' }, MessageRejectedError],
    ['total elements', grpc.status.INVALID_ARGUMENT, { total_elements: 9 }, MessageRejectedError],
    ['phase', grpc.status.INVALID_ARGUMENT, { phase: 'ALL_GATHER' }, MessageRejectedError],
    ['step', grpc.status.FAILED_PRECONDITION, { tag: { ...ctx, step: 8 } }, MessageRejectedError],
    ['older generation', grpc.status.FAILED_PRECONDITION, { tag: { ...ctx, generation: 2 } }, MessageRejectedError],
    ['newer generation', grpc.status.FAILED_PRECONDITION, { tag: { ...ctx, generation: 4 } }, StaleGenerationError],
  ])('refuses a chunk with a wrong %s with status %i and never sums it', async (_field, code, change, errorClass) => {
    const fake = await fakePredecessor({ ...goodChunk(), ...change });
    const server = await RingServer.bind('127.0.0.1:0');
    const member = await GrpcRingCollective.start({ rank: 1, peers: [{ rank: 0, address: fake.address }, { rank: 1, address: server.address }], server, timeoutMs: 5_000 });
    try {
      fake.subscribeTo(member.address);
      const buffer = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
      const outcome = member.allReduceSum(ctx, [buffer]);
      await expect(outcome).rejects.toBeInstanceOf(errorClass);
      await expect(outcome).rejects.toMatchObject(errorClass === MessageRejectedError ? { code } : {});
      const upstream = await fake.upstream;
      expect(upstream.map((m) => m.body)).toEqual(['subscribe', 'reject']);
      expect(upstream[1].reject?.code).toBe(code);
      expect([...buffer]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    } finally {
      await member.close();
      fake.close();
    }
  });

  it('refuses a subscription from a member that is not the successor with PERMISSION_DENIED', async () => {
    const server = await RingServer.bind('127.0.0.1:0');
    const peers = [{ rank: 0, address: server.address }, { rank: 1, address: '127.0.0.1:1' }, { rank: 2, address: '127.0.0.1:2' }];
    const member = await GrpcRingCollective.start({ rank: 0, peers, server });
    const client = new Ring(member.address, grpc.credentials.createInsecure());
    try {
      const call = client.Stream();
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.on('error', () => undefined);
      call.write({ subscribe: { experiment: 'x', generation: 1, rank: 2, size: 3 } });
      expect((await status).code).toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      client.close();
      await member.close();
    }
  });

  it('serves grpc.health.v1.Health: SERVING while up', async () => {
    const member = await GrpcRingCollective.start({ rank: 0, peers: [{ rank: 0, address: '127.0.0.1:0' }] });
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
    const client = new Health(member.address, grpc.credentials.createInsecure());
    try {
      const check = (service: string): Promise<{ status: string }> =>
        new Promise((resolve, reject) =>
          client.makeUnaryRequest(
            '/grpc.health.v1.Health/Check',
            (x: { service: string }) => healthService.Check.requestSerialize(x),
            (b: Buffer) => healthService.Check.responseDeserialize(b) as { status: string },
            { service },
            { deadline: Date.now() + 5_000 },
            (e: grpc.ServiceError | null, r?: { status: string }) => (e || !r ? reject(e) : resolve(r)),
          ),
        );
      await expect(check('unroll.v1.Ring')).resolves.toEqual({ status: 'SERVING' });
      await expect(check('')).resolves.toEqual({ status: 'SERVING' });
    } finally {
      client.close();
      await member.close();
    }
  });

  describe('FetchState', () => {
    const snapshot: StateSnapshot = {
      experiment: 'state-test',
      generation: 2,
      step: 40,
      tensors: [
        { name: 'weight_ih_l0', shape: [3, 700], data: Float32Array.from({ length: 2100 }, (_, i) => i / 7) },
        { name: 'bias_ih_l0', shape: [3], data: Float32Array.from([1, 2, 3]) },
        { name: 'empty', shape: [0], data: new Float32Array(0) },
      ],
    };

    it('streams parameters and optimizer state to a joining member in chunks', async () => {
      const member = await GrpcRingCollective.start({
        rank: 0,
        peers: [{ rank: 0, address: '127.0.0.1:0' }],
        chunkBytes: 1024,
        stateSource: { snapshot: async (experiment) => (experiment === snapshot.experiment ? snapshot : undefined) },
      });
      try {
        const got = await fetchState(member.address, { experiment: 'state-test', generation: 2 }, { chunkBytes: 1024 });
        expect(got).toEqual(snapshot);
        await expect(fetchState(member.address, { experiment: 'other', generation: 2 })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
        await member.allReduceSum({ experiment: 'state-test', generation: 5, step: 1 }, []);
        await expect(fetchState(member.address, { experiment: 'state-test', generation: 4 })).rejects.toBeInstanceOf(StaleGenerationError);
      } finally {
        await member.close();
      }
    });
  });
});
