import { CorruptStateError } from './cluster-errors';
import { RedisControlBus } from './redis-control-bus';
import { RedisExperimentStore } from './redis-experiment-store';
import { RedisHiddenStateStore } from './redis-hidden-state-store';
import { RedisMembershipStore } from './redis-membership-store';
import { describeControlBusConformance } from './testing/control-bus-conformance';
import { describeExperimentStoreConformance } from './testing/experiment-store-conformance';
import { describeHiddenStateStoreConformance } from './testing/hidden-state-store-conformance';
import { describeMembershipStoreConformance } from './testing/membership-store-conformance';
import { RedisTestEnv, openRedisTestEnv } from './testing/redis-test-env';

const quiet = { onDropped: () => undefined, onHandlerError: () => undefined };

describeMembershipStoreConformance('RedisMembershipStore', async () => {
  const env = await openRedisTestEnv();
  return { subject: new RedisMembershipStore(env.redis, { prefix: env.prefix }), close: env.close };
});

describeExperimentStoreConformance('RedisExperimentStore', async () => {
  const env = await openRedisTestEnv();
  return { subject: new RedisExperimentStore(env.redis, { prefix: env.prefix }), close: env.close };
});

describeHiddenStateStoreConformance('RedisHiddenStateStore', async () => {
  const env = await openRedisTestEnv();
  return { subject: new RedisHiddenStateStore(env.redis, { prefix: env.prefix }), close: env.close };
});

describeControlBusConformance('RedisControlBus', async () => {
  const env = await openRedisTestEnv();
  const buses: RedisControlBus[] = [];
  const publisher = new RedisControlBus(env.redis, { prefix: env.prefix, ...quiet });
  return {
    connect: async () => {
      const bus = new RedisControlBus(env.redis.duplicate(), { prefix: env.prefix, ...quiet });
      buses.push(bus);
      return bus;
    },
    publishRaw: async (experiment, raw) => {
      await env.redis.publish(publisher.channel(experiment), raw);
    },
    dropped: () => buses.reduce((n, b) => n + b.dropped, 0),
    close: async () => {
      for (const bus of buses) {
        await bus.close();
        await bus.connection.quit();
      }
      await env.close();
    },
  };
});

describe('Redis stores: key layout and corruption', () => {
  let env: RedisTestEnv;
  beforeEach(async () => {
    env = await openRedisTestEnv();
  });
  afterEach(() => env.close());

  it('keeps every key under the prefix, hidden states indexed by step', async () => {
    const states = new RedisHiddenStateStore(env.redis, { prefix: env.prefix });
    await states.put('e', 0, 4, 3, [Float32Array.of(1, 2)]);
    await new RedisMembershipStore(env.redis, { prefix: env.prefix }).register(
      { id: 'w1', ringAddress: 'h:1', backend: 'cpu', kernel: 'tfjs', device: 'cpu', startedAt: 0 },
      10_000,
    );
    expect(await env.keys()).toEqual(
      [`${env.prefix}:exp:e:h-index`, `${env.prefix}:exp:e:h:0:4:3`, `${env.prefix}:worker:w1`, `${env.prefix}:worker:w1:alive`, `${env.prefix}:workers`].sort(),
    );
    expect(await env.redis.zscore(`${env.prefix}:exp:e:h-index`, `${env.prefix}:exp:e:h:0:4:3`)).toBe('3');
    expect(await env.redis.pttl(`${env.prefix}:worker:w1:alive`)).toBeGreaterThan(9000);
  });

  it('refuses corrupt hidden-state bytes with a clear error', async () => {
    const states = new RedisHiddenStateStore(env.redis, { prefix: env.prefix });
    const key = `${env.prefix}:exp:e:h:0:4:3`;
    await env.redis.set(key, Buffer.from('garbage!'));
    await expect(states.get('e', 0, 4, 3)).rejects.toBeInstanceOf(CorruptStateError);
    await expect(states.get('e', 0, 4, 3)).rejects.toThrow(`hidden state ${key} is corrupt (8 bytes): bad magic`);
    await states.put('e', 0, 4, 3, [Float32Array.of(1, 2, 3)]);
    const bytes = (await env.redis.getBuffer(key)) as Buffer;
    await env.redis.set(key, bytes.subarray(0, bytes.length - 2));
    await expect(states.get('e', 0, 4, 3)).rejects.toThrow('layer lengths [3] need 24 bytes');
  });

  it('refuses a corrupt experiment record with a clear error', async () => {
    const store = new RedisExperimentStore(env.redis, { prefix: env.prefix });
    await store.create({ id: 'e', specYaml: 'x', status: 'queued', step: 0, generation: 0, members: [] });
    await env.redis.hset(`${env.prefix}:exp:e`, 'members', '{oops');
    await expect(store.get('e')).rejects.toThrow('experiment record "e" has an invalid members: "{oops"');
  });
});
