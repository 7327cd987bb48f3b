import { GrpcRingCollective } from './grpc-ring-collective';
import * as grpc from '@grpc/grpc-js';
import { loadCollectiveProto } from '@unroll/proto';
import { fetchState } from './state-transfer';
import { PeerDeadlineError } from './collective-errors';
import type { ReducerKind } from './reducer';
import { RingServer } from './ring-server';
import { describeCollectiveConformance } from './testing/collective-conformance';

describe.each<ReducerKind>(['inline', 'worker'])('GrpcRingCollective with the %s reducer', (reducer) => {
  describeCollectiveConformance(`GrpcRingCollective (${reducer} reducer)`, async (size, { timeoutMs, bucketBytes, chunkBytes }) => {
    const servers = await Promise.all(Array.from({ length: size }, () => RingServer.bind('127.0.0.1:0', { chunkBytes })));
    const peers = servers.map((server, rank) => ({ rank, address: server.address }));
    const members = await Promise.all(
      servers.map((server, rank) => GrpcRingCollective.start({ rank, peers, server, timeoutMs, bucketBytes, chunkBytes, reducer })),
    );
    return {
      members,
      kill: (rank) => members[rank].close(),
      close: async () => {
        await Promise.all(members.map((m) => m.close()));
      },
    };
  });
});

describe('GrpcRingCollective.onPeerFailure', () => {
  it('tells the neighbours of a member that went — between reductions too — naming it, and tells the member that closed nothing', async () => {
    const servers = await Promise.all(Array.from({ length: 3 }, () => RingServer.bind('127.0.0.1:0')));
    const peers = servers.map((server, rank) => ({ rank, address: server.address }));
    const members = await Promise.all(servers.map((server, rank) => GrpcRingCollective.start({ rank, peers, server })));
    const told: Array<{ at: number; peer: number; reason: string }> = [];
    members.forEach((m, at) => m.onPeerFailure((peer, error) => told.push({ at, peer: peer.rank, reason: error.reason })));
    try {
      await Promise.all(members.map((m) => m.allReduceSum({ experiment: 'e', generation: 1, step: 0 }, [new Float32Array(64).fill(1)])));
      expect(told).toEqual([]);
      await members[1].close();
      const deadline = Date.now() + 5000;
      while (told.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      // Rank 1's predecessor (0, which sends to it) and successor (2, which receives from it).
      expect(told.map(({ at, peer }) => ({ at, peer })).sort((x, y) => x.at - y.at)).toEqual([
        { at: 0, peer: 1 },
        { at: 2, peer: 1 },
      ]);
    } finally {
      await Promise.all(members.map((m) => m.close()));
    }
  });
});

describe('GrpcRingCollective.peerGone', () => {
  it('fails a reduction waiting on the gone member at once, and every later one, naming it, instead of at the deadline', async () => {
    const servers = await Promise.all(Array.from({ length: 2 }, () => RingServer.bind('127.0.0.1:0')));
    const peers = servers.map((server, rank) => ({ rank, address: server.address }));
    const members = await Promise.all(servers.map((server, rank) => GrpcRingCollective.start({ rank, peers, server, timeoutMs: 20_000 })));
    try {
      await members[1].close();
      const started = Date.now();
      const waiting = members[0].allReduceSum({ experiment: 'e', generation: 1, step: 0 }, [new Float32Array(64)]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      members[0].peerGone(1, 'its ring port refuses connections');
      await expect(waiting).rejects.toThrow(new PeerDeadlineError(peers[1], 'its ring port refuses connections'));
      await expect(members[0].allReduceSum({ experiment: 'e', generation: 1, step: 1 }, [new Float32Array(64)])).rejects.toThrow(PeerDeadlineError);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await Promise.all(members.map((m) => m.close()));
    }
  });
});

describe('GrpcRingCollective with a member that forms its ring late', () => {
  it("holds a neighbour's stream until the late member's collective is attached (a worker still loading the experiment), and the reduction completes", async () => {
    const servers = await Promise.all(Array.from({ length: 3 }, () => RingServer.bind('127.0.0.1:0')));
    const peers = servers.map((server, rank) => ({ rank, address: server.address }));
    const early = await Promise.all([0, 1].map((rank) => GrpcRingCollective.start({ rank, peers, server: servers[rank], timeoutMs: 10_000 })));
    const members = [...early];
    try {
      const buffers = [0, 1, 2].map((r) => Float32Array.from([r + 1, 10 * (r + 1)]));
      // Ranks 0 and 1 start while rank 2 has no collective yet: rank 0 dials its predecessor, rank 2, at once.
      const reductions = early.map((m, r) => m.allReduceSum({ experiment: 'e', generation: 1, step: 0 }, [buffers[r]]));
      await new Promise((resolve) => setTimeout(resolve, 500));
      const late = await GrpcRingCollective.start({ rank: 2, peers, server: servers[2], timeoutMs: 10_000 });
      members.push(late);
      await Promise.all([...reductions, late.allReduceSum({ experiment: 'e', generation: 1, step: 0 }, [buffers[2]])]);
      for (const b of buffers) expect([...b]).toEqual([6, 60]);
    } finally {
      await Promise.all(members.map((m) => m.close()));
      for (const s of servers) s.shutdown();
    }
  });
});

describe('RingServer before a collective is attached', () => {
  it('fails a held ring stream UNAVAILABLE after holdMs, and a FetchState call at once (the joiner asks another member)', async () => {
    const server = await RingServer.bind('127.0.0.1:0', {}, { holdMs: 300 });
    const client = new (loadCollectiveProto().unroll.v1.Ring)(server.address, grpc.credentials.createInsecure());
    try {
      const started = Date.now();
      const call = client.Stream({ deadline: Date.now() + 5_000 });
      call.on('error', () => undefined);
      call.on('data', () => undefined);
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.write({ subscribe: { experiment: 'e', generation: 1, rank: 0, size: 2 } });
      expect(await status).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'ring member not ready within 300 ms' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      const fetchStarted = Date.now();
      await expect(fetchState(server.address, { experiment: 'e', generation: 1 }, { timeoutMs: 5_000 })).rejects.toThrow(/ring member not ready/);
      expect(Date.now() - fetchStarted).toBeLessThan(1_000);
    } finally {
      client.close();
      server.shutdown();
    }
  });
});
