import { describeCollectiveConformance } from './collective-conformance';
import { InMemoryCollective } from './in-memory-collective';

describeCollectiveConformance('InMemoryCollective', async (size, { timeoutMs }) => {
  const members = InMemoryCollective.group(size, { timeoutMs });
  return {
    members,
    kill: (rank) => members[rank].close(),
    close: async () => {
      await Promise.all(members.map((m) => m.close()));
    },
  };
});
