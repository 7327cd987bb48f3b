import { Redis, RedisOptions } from 'ioredis';
import { RedisSetupError } from './cluster-errors';

/**
 * Connecting to Redis. Credentials and TLS come from the URL alone
 * (`redis://user:pass@host:6379/0`, `rediss://…` for TLS), so a deployment passes
 * one secret, REDIS_URL, and no code path needs to know about it. The URL is never
 * logged as is: redactRedisUrl() masks the password.
 */

/** The Redis a process uses when REDIS_URL is unset: the local one `unroll up` starts or finds. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** How to get a Redis when there is none; quoted in every connection error. */
export const REDIS_HELP =
  'start one with `redis-server --daemonize yes` (or `docker run -d -p 6379:6379 redis:7`), or point REDIS_URL at yours';

/**
 * Opens an ioredis connection to `url`. `opts` are ioredis options layered over the URL
 * (e.g. `{ connectionName }`); the URL's credentials, database and TLS pass through.
 * The connection is opened lazily by the first command; call checkRedis() to fail early.
 */
export function connectRedis(url: string = process.env['REDIS_URL'] ?? DEFAULT_REDIS_URL, opts: RedisOptions = {}): Redis {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisSetupError(`REDIS_URL is not a URL: ${redactRedisUrl(url)}; expected redis://[user:password@]host:port[/db]`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new RedisSetupError(`REDIS_URL must start with redis:// or rediss:// (TLS), got ${parsed.protocol}//`);
  }
  return new Redis(url, opts);
}

/** `url` with its password replaced by `***`, safe for logs and error messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '<unparseable Redis URL>';
  }
}

/** Where `redis` points, without credentials, for messages. */
export function describeRedis(redis: Redis): string {
  const o = redis.options;
  const scheme = o.tls === undefined ? 'redis' : 'rediss';
  return `${scheme}://${o.host ?? '127.0.0.1'}:${o.port ?? 6379}${o.db ? `/${o.db}` : ''}`;
}

export interface CheckRedisOptions {
  /** How long to wait for PING. @defaultValue 5000 ms — long enough for a TLS handshake to a remote Redis */
  timeoutMs?: number;
}

/**
 * Verifies that Redis answers and that its `maxmemory-policy` is `noeviction`: BullMQ
 * keeps jobs and locks in Redis, and a policy that evicts keys would silently lose
 * them. The policy is read from INFO (allowed on managed Redis where CONFIG is not).
 * Throws RedisSetupError with what is wrong and how to fix it.
 */
export async function checkRedis(redis: Redis, opts: CheckRedisOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const where = describeRedis(redis);
  let timer: NodeJS.Timeout | undefined;
  let info: string;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const answer = (async () => {
      await redis.ping();
      return redis.info('memory');
    })();
    answer.catch(() => undefined);
    info = await Promise.race([answer, timeout]);
  } catch (error) {
    throw new RedisSetupError(`Redis at ${where} is not reachable (${(error as Error).message}): ${REDIS_HELP}`);
  } finally {
    clearTimeout(timer);
  }
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy !== 'noeviction') {
    throw new RedisSetupError(
      `Redis at ${where} has maxmemory-policy ${policy ?? '(unknown)'}, but BullMQ requires noeviction ` +
        `(an evicting policy silently drops queued jobs and locks). Fix it with ` +
        '`redis-cli CONFIG SET maxmemory-policy noeviction` and make it permanent with ' +
        '`maxmemory-policy noeviction` in redis.conf (or your provider\'s parameter group).',
    );
  }
}
