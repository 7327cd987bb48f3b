import { InMemoryExperimentQueue } from './in-memory-experiment-queue';
import { describeExperimentQueueConformance } from './experiment-queue-conformance';
import { InMemoryWindowQueue } from './in-memory-window-queue';
import { describeWindowQueueConformance } from './window-queue-conformance';
import { describeControlBusConformance } from './control-bus-conformance';
import { describeExperimentStoreConformance } from './experiment-store-conformance';
import { describeHiddenStateStoreConformance } from './hidden-state-store-conformance';
import { InMemoryControlBus } from './in-memory-control-bus';
import { InMemoryExperimentStore } from './in-memory-experiment-store';
import { InMemoryHiddenStateStore } from './in-memory-hidden-state-store';
import { InMemoryMembershipStore } from './in-memory-membership-store';
import { describeMembershipStoreConformance } from './membership-store-conformance';

const quiet = { onDropped: () => undefined, onHandlerError: () => undefined };

describeMembershipStoreConformance('InMemoryMembershipStore', async () => ({ subject: new InMemoryMembershipStore(), close: async () => undefined }));
describeExperimentStoreConformance('InMemoryExperimentStore', async () => ({ subject: new InMemoryExperimentStore(), close: async () => undefined }));
describeHiddenStateStoreConformance('InMemoryHiddenStateStore', async () => ({ subject: new InMemoryHiddenStateStore(), close: async () => undefined }));
describeControlBusConformance('InMemoryControlBus', async () => {
  const bus = new InMemoryControlBus(quiet);
  return {
    connect: async () => bus,
    publishRaw: async (experiment, raw) => bus.publishRaw(experiment, raw),
    dropped: () => bus.dropped,
    close: () => bus.close(),
  };
});

describe('InMemoryMembershipStore with an injected clock', () => {
  it('expires by that clock', async () => {
    let now = 1000;
    const store = new InMemoryMembershipStore({ now: () => now });
    await store.register({ id: 'w', ringAddress: 'h:1', backend: 'cpu', kernel: 'tfjs', device: 'cpu', startedAt: 0 }, 100);
    now = 1099;
    expect(await store.heartbeat('w', 100)).toBe(true);
    now = 1198;
    expect((await store.alive()).map((w) => w.id)).toEqual(['w']);
    now = 1199;
    expect(await store.alive()).toEqual([]);
  });
});

describeWindowQueueConformance('InMemoryWindowQueue', async () => {
  const queue = new InMemoryWindowQueue({ attempts: 3, backoffMs: 5 });
  return { open: async () => queue, leftoverJobs: async () => queue.pendingJobIds(), close: () => queue.close() };
});

describeExperimentQueueConformance('InMemoryExperimentQueue', async () => {
  const queue = new InMemoryExperimentQueue({ onHandlerError: () => undefined });
  return { open: async () => queue, close: () => queue.close() };
});
