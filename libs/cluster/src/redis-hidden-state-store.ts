import { Redis } from 'ioredis';
import { decodeHiddenState, encodeHiddenState } from './hidden-state-codec';
import { HiddenStateStore } from './interfaces';
import { DEFAULT_PREFIX, LuaScript, RedisStoreOptions, validatePrefix } from './lua-script';

/**
 * HiddenStateStore on Redis.
 *
 * Keys (P = prefix, E = experiment):
 *   P:exp:E:h:<first>:<count>:<step>   STRING  the layers, encoded by hidden-state-codec (header + f32 LE)
 *   P:exp:E:h-index                     ZSET    every state key of E, scored by its step
 *
 * The index lets deleteBefore/deleteAll find an experiment's keys without KEYS or a
 * SCAN of the whole keyspace. put writes the value and its index entry in one
 * MULTI/EXEC, so the index never misses a stored state; the deletes are Lua scripts,
 * so a state is never left unindexed half-deleted. Re-putting the same key writes the
 * same bytes (window jobs are idempotent, DESIGN invariant 2).
 */
export class RedisHiddenStateStore implements HiddenStateStore {
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    opts: RedisStoreOptions = {},
  ) {
    this.prefix = validatePrefix(opts.prefix ?? DEFAULT_PREFIX);
  }

  private stateKey(experiment: string, first: number, count: number, step: number): string {
    return `${this.prefix}:exp:${experiment}:h:${first}:${count}:${step}`;
  }

  private indexKey(experiment: string): string {
    return `${this.prefix}:exp:${experiment}:h-index`;
  }

  async get(experiment: string, first: number, count: number, step: number): Promise<Float32Array[] | undefined> {
    const key = this.stateKey(experiment, first, count, step);
    const bytes = await this.redis.getBuffer(key);
    return bytes === null ? undefined : decodeHiddenState(bytes, `hidden state ${key}`);
  }

  async put(experiment: string, first: number, count: number, step: number, layers: Float32Array[]): Promise<void> {
    const key = this.stateKey(experiment, first, count, step);
    const results = await this.redis.multi().set(key, encodeHiddenState(layers)).zadd(this.indexKey(experiment), step, key).exec();
    const failed = results?.find(([error]) => error !== null);
    if (results === null || failed !== undefined) throw failed?.[0] ?? new Error(`put of ${key} was discarded`);
  }

  async deleteBefore(experiment: string, step: number): Promise<number> {
    return (await DELETE_BEFORE.run(this.redis, [this.indexKey(experiment)], [`(${step}`])) as number;
  }

  async deleteAll(experiment: string): Promise<number> {
    return (await DELETE_BEFORE.run(this.redis, [this.indexKey(experiment)], ['+inf'])) as number;
  }
}

// Deletes the indexed states with score < or <= ARGV[1] (a ZRANGEBYSCORE bound) and
// their index entries; returns how many. Keys come from the index, so this suits a
// single Redis or a primary with replicas, not Redis Cluster.
const DELETE_BEFORE = new LuaScript(
  'hidden-state-delete-before',
  `
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, key in ipairs(keys) do redis.call('DEL', key) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return #keys
`,
);
