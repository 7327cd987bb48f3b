import { GrpcRingCollective } from './grpc-ring-collective';
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
