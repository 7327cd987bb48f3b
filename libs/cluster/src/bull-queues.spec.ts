import { BullExperimentQueue } from './bull-experiment-queue';
import { describeExperimentQueueConformance } from './testing/experiment-queue-conformance';
import { BullWindowQueue } from './bull-window-queue';
import { WindowQueue } from './interfaces';
import { openRedisTestEnv } from './testing/redis-test-env';
import { describeWindowQueueConformance } from './testing/window-queue-conformance';

/** Job hashes under the prefix: every job id of ours contains '/', BullMQ's own keys do not. */
const JOB_KEY = /^[^:]+:[^:]+-(windows|steps):[^:]*\//;

describeWindowQueueConformance('BullWindowQueue', async () => {
  const env = await openRedisTestEnv();
  const queues: WindowQueue[] = [];
  return {
    open: async () => {
      const q = new BullWindowQueue(env.redis, { prefix: env.prefix, attempts: 3, backoffMs: 20, lockDurationMs: 5000, stalledIntervalMs: 2000 });
      queues.push(q);
      return q;
    },
    leftoverJobs: async () => (await env.keys()).filter((k) => JOB_KEY.test(k)),
    close: async () => {
      await Promise.all(queues.map((q) => q.close()));
      await env.close();
    },
  };
});

describeExperimentQueueConformance('BullExperimentQueue', async () => {
  const env = await openRedisTestEnv();
  const queues: BullExperimentQueue[] = [];
  return {
    open: async () => {
      const q = new BullExperimentQueue(env.redis, { prefix: env.prefix, onHandlerError: () => undefined });
      queues.push(q);
      return q;
    },
    close: async () => {
      await Promise.all(queues.map((q) => q.close()));
      await env.close();
    },
  };
});
