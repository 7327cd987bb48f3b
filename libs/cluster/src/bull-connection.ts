import { Redis } from 'ioredis';
import { DEFAULT_PREFIX, validatePrefix } from './lua-script';

/** Options both BullMQ-backed queues take. */
export interface BullQueueOptions {
  /**
   * Root namespace: BullMQ's key prefix, and the start of every queue name, so all
   * keys of a deployment (or of one test) are under `${prefix}:`. @defaultValue 'unroll'
   */
  prefix?: string;
  /**
   * Told of errors BullMQ reports outside any call (a lost connection, a failed lock
   * renewal). @defaultValue one line to stderr
   */
  onError?: (error: Error) => void;
}

export interface ResolvedBullOptions {
  prefix: string;
  onError: (error: Error) => void;
}

export function resolveBullOptions(opts: BullQueueOptions): ResolvedBullOptions {
  return {
    prefix: validatePrefix(opts.prefix ?? DEFAULT_PREFIX),
    onError: opts.onError ?? ((error) => process.stderr.write(`unroll queue: ${error.message}\n`)),
  };
}

/**
 * The connection a queue hands to BullMQ: a duplicate of the caller's (same URL,
 * credentials, TLS) with `maxRetriesPerRequest: null`, which BullMQ requires of the
 * connections its Workers and QueueEvents block on — a blocking command must wait
 * out a Redis restart instead of failing after N retries. Owned and closed by the queue.
 */
export function bullConnection(redis: Redis): Redis {
  return redis.duplicate({ maxRetriesPerRequest: null });
}

/**
 * BullMQ refuses custom job ids that contain ':' (its key separator) or look like
 * integers, so a logical id like `exp:3:12:0` is stored as `exp/3/12/0`, with the
 * experiment URI-encoded so the mapping stays one-to-one.
 */
export function bullJobId(experiment: string, ...numbers: number[]): string {
  return [encodeURIComponent(experiment), ...numbers].join('/');
}

/** The window job named by a bullJobId(experiment, generation, step, firstStream), or undefined for any other id. */
export function parseWindowBullId(id: string): { experiment: string; generation: number; step: number; firstStream: number } | undefined {
  const parts = id.split('/');
  if (parts.length !== 4) return undefined;
  const [generation, step, firstStream] = parts.slice(1).map(Number);
  if (![generation, step, firstStream].every((n) => Number.isInteger(n) && n >= 0)) return undefined;
  try {
    return { experiment: decodeURIComponent(parts[0]), generation, step, firstStream };
  } catch {
    return undefined;
  }
}
