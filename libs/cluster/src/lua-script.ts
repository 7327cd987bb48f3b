import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * A Lua script run by EVALSHA, falling back to EVAL when the server does not have it
 * cached yet (after a restart or SCRIPT FLUSH). Redis runs a script atomically: no
 * other command runs between its reads and writes, which is what makes the
 * compare-and-set operations of the stores safe across processes.
 */
export class LuaScript {
  readonly sha1: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha1 = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number | Buffer>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha1, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** The root key namespace when none is given; tests use a fresh random one each. */
export const DEFAULT_PREFIX = 'unroll';

/** Options every Redis-backed store takes. */
export interface RedisStoreOptions {
  /** Root namespace of every key the store writes. @defaultValue 'unroll' */
  prefix?: string;
}

/** Checks a prefix once, at the edge: it becomes part of every key and channel name. */
export function validatePrefix(prefix: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(prefix)) {
    throw new TypeError(`prefix must be letters, digits, '_', '.' or '-' (it starts every Redis key), got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}
