import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisSetupError } from '../cluster-errors';
import { REDIS_HELP, checkRedis, connectRedis, describeRedis } from '../redis-connection';

/**
 * Integration tests run against a real Redis (REDIS_URL, else 127.0.0.1:6379), each
 * under a fresh random key prefix that it deletes afterwards, as BullMQ's own tests
 * do. A missing Redis fails the test with how to start one; it never skips.
 */
export interface RedisTestEnv {
  redis: Redis;
  /** A fresh random root prefix, e.g. `unroll-test-3f9a1c2b`. */
  prefix: string;
  /** Every key under the prefix (SCAN, never KEYS). */
  keys(pattern?: string): Promise<string[]>;
  /** Deletes every key under the prefix and closes the connection. */
  close(): Promise<void>;
}

export async function openRedisTestEnv(): Promise<RedisTestEnv> {
  // Fail fast in tests: one retry per command and a short connect timeout.
  const redis = connectRedis(undefined, { maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: true });
  redis.on('error', () => undefined); // reported by checkRedis below, with the fix
  try {
    await redis.connect();
    await checkRedis(redis, { timeoutMs: 3000 });
  } catch (error) {
    redis.disconnect();
    if (error instanceof RedisSetupError) throw error;
    throw new RedisSetupError(`these tests need Redis at ${describeRedis(redis)} (${(error as Error).message}): ${REDIS_HELP}`);
  }
  const prefix = `unroll-test-${randomBytes(4).toString('hex')}`;
  const keys = (pattern = '*'): Promise<string[]> => scanKeys(redis, `${prefix}:${pattern}`);
  return {
    redis,
    prefix,
    keys,
    close: async () => {
      await deleteKeys(redis, await keys());
      await redis.quit();
    },
  };
}

/** Keys matching `pattern`, by SCAN (which does not block Redis as KEYS does). */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    for (const k of batch) found.add(k);
    cursor = next;
  } while (cursor !== '0');
  return [...found].sort();
}

export async function deleteKeys(redis: Redis, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
}
