import { Redis } from 'ioredis';
import { RedisSetupError } from './cluster-errors';
import { checkRedis, connectRedis, describeRedis, redactRedisUrl } from './redis-connection';
import { openRedisTestEnv } from './testing/redis-test-env';

describe('redactRedisUrl', () => {
  it('masks the password and keeps the rest', () => {
    expect(redactRedisUrl('rediss://worker:s3cr%40t@redis.example:6380/2')).toBe('rediss://worker:***@redis.example:6380/2');
    expect(redactRedisUrl('redis://:only-password@h:6379')).toBe('redis://:***@h:6379');
    expect(redactRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactRedisUrl('not a url with secret')).toBe('<unparseable Redis URL>');
  });
});

describe('connectRedis', () => {
  it('refuses what is not a redis:// or rediss:// URL, without echoing the password', () => {
    expect(() => connectRedis('http://u:hunter2@h:1')).toThrow('must start with redis:// or rediss://');
    expect(() => connectRedis('redis//u:hunter2@h')).toThrow(RedisSetupError);
    try {
      connectRedis('redis//u:hunter2@h');
    } catch (error) {
      expect(String(error)).not.toContain('hunter2');
    }
  });

  it('passes credentials, database and TLS through from the URL', () => {
    const redis = connectRedis('rediss://user:pw@example.invalid:6390/3', { lazyConnect: true });
    expect(redis.options).toMatchObject({ host: 'example.invalid', port: 6390, db: 3, username: 'user', password: 'pw' });
    expect(redis.options.tls).toBeDefined();
    expect(describeRedis(redis)).toBe('rediss://example.invalid:6390/3');
    redis.disconnect();
  });
});

describe('checkRedis', () => {
  it('passes on the test Redis (noeviction)', async () => {
    const env = await openRedisTestEnv();
    try {
      await expect(checkRedis(env.redis)).resolves.toBeUndefined();
    } finally {
      await env.close();
    }
  });

  it('names maxmemory-policy and how to fix it when Redis evicts keys', async () => {
    const evicting = {
      options: { host: 'cache', port: 6379 },
      ping: async () => 'PONG',
      info: async () => '# Memory\r\nused_memory:1000\r\nmaxmemory_policy:allkeys-lru\r\n',
    } as unknown as Redis;
    const check = checkRedis(evicting);
    await expect(check).rejects.toBeInstanceOf(RedisSetupError);
    await expect(check).rejects.toThrow('has maxmemory-policy allkeys-lru, but BullMQ requires noeviction');
    await expect(check).rejects.toThrow('CONFIG SET maxmemory-policy noeviction');
    await expect(check).rejects.toThrow('redis.conf');
  });

  it('says how to start Redis when none answers', async () => {
    const redis = connectRedis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true, disconnectTimeout: 50 });
    redis.on('error', () => undefined);
    const check = checkRedis(redis, { timeoutMs: 2000 });
    await expect(check).rejects.toThrow('Redis at redis://127.0.0.1:1 is not reachable');
    await expect(check).rejects.toThrow('redis-server --daemonize yes');
    redis.disconnect();
  });
});
