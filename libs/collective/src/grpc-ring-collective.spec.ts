import { GrpcRingCollective } from './grpc-ring-collective';
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
