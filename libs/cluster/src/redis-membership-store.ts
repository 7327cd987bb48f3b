import { Redis } from 'ioredis';
import { CorruptStateError } from './cluster-errors';
import { MembershipStore, WorkerInfo } from './interfaces';
import { DEFAULT_PREFIX, LuaScript, RedisStoreOptions, validatePrefix } from './lua-script';

/**
 * MembershipStore on Redis.
 *
 * Keys (P = prefix):
 *   P:workers               SET     ids of registered workers (an index; may hold expired ids until alive() prunes them)
 *   P:worker:<id>           HASH    the WorkerInfo fields; PX TTL = ttlMs, renewed with the liveness key
 *   P:worker:<id>:alive     STRING  "1" with PX TTL = ttlMs: the worker is alive exactly while this key exists
 *
 * Expiry is Redis's own clock (PX), so workers on machines with skewed clocks agree.
 * Every operation is one MULTI or one Lua script, so a reader never sees the info
 * without the liveness key or the index without the info.
 */
export class RedisMembershipStore implements MembershipStore {
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    opts: RedisStoreOptions = {},
  ) {
    this.prefix = validatePrefix(opts.prefix ?? DEFAULT_PREFIX);
  }

  private get indexKey(): string {
    return `${this.prefix}:workers`;
  }

  private infoKey(id: string): string {
    return `${this.prefix}:worker:${id}`;
  }

  private aliveKey(id: string): string {
    return `${this.prefix}:worker:${id}:alive`;
  }

  /** MULTI/EXEC: the info, its liveness and its index entry appear together. */
  async register(info: WorkerInfo, ttlMs: number): Promise<void> {
    const ttl = validTtl(ttlMs);
    await this.redis
      .multi()
      .del(this.infoKey(info.id))
      .hset(this.infoKey(info.id), {
        id: info.id,
        ringAddress: info.ringAddress,
        backend: info.backend,
        kernel: info.kernel,
        device: info.device,
        startedAt: String(info.startedAt),
      })
      .pexpire(this.infoKey(info.id), ttl)
      .set(this.aliveKey(info.id), '1', 'PX', ttl)
      .sadd(this.indexKey, info.id)
      .exec();
  }

  /** One script: renews only if the liveness key still exists, so an expired worker cannot come back by heartbeat. */
  async heartbeat(id: string, ttlMs: number): Promise<boolean> {
    const renewed = await HEARTBEAT.run(this.redis, [this.aliveKey(id), this.infoKey(id)], [validTtl(ttlMs)]);
    return renewed === 1;
  }

  /** One script: reads the live workers and prunes expired ids from the index in the same atomic step. */
  async alive(): Promise<WorkerInfo[]> {
    const rows = (await ALIVE.run(this.redis, [this.indexKey], [`${this.prefix}:worker:`])) as string[][];
    return rows.map((flat) => parseWorkerInfo(flat)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async deregister(id: string): Promise<void> {
    await this.redis.multi().del(this.infoKey(id), this.aliveKey(id)).srem(this.indexKey, id).exec();
  }

  /** One script: compares the registration's ring address and start time, and removes it only if both match. */
  async withdraw(info: Pick<WorkerInfo, 'id' | 'ringAddress' | 'startedAt'>): Promise<boolean> {
    const removed = await WITHDRAW.run(this.redis, [this.infoKey(info.id), this.aliveKey(info.id), this.indexKey], [info.id, info.ringAddress, String(info.startedAt)]);
    return removed === 1;
  }
}

const WITHDRAW = new LuaScript(
  'withdraw',
  `
local found = redis.call('HMGET', KEYS[1], 'ringAddress', 'startedAt')
if found[1] ~= ARGV[2] or found[2] ~= ARGV[3] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
`,
);

const HEARTBEAT = new LuaScript(
  'heartbeat',
  `
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
  return 1
end
return 0
`,
);

// Key names are built from ARGV[1] (the worker key prefix) inside the script: fine on a
// single Redis or a primary with replicas, not on Redis Cluster (which Unroll does not use).
const ALIVE = new LuaScript(
  'alive',
  `
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local info = ARGV[1] .. id
  local fields = redis.call('HGETALL', info)
  if redis.call('EXISTS', info .. ':alive') == 1 and #fields > 0 then
    table.insert(out, fields)
  else
    redis.call('SREM', KEYS[1], id)
    redis.call('DEL', info)
  end
end
return out
`,
);

function validTtl(ttlMs: number): number {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new TypeError(`ttlMs must be a positive integer (ms), got ${ttlMs}`);
  return ttlMs;
}

function parseWorkerInfo(flat: string[]): WorkerInfo {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]] = flat[i + 1];
  const startedAt = Number(h['startedAt']);
  for (const f of ['id', 'ringAddress', 'backend', 'kernel', 'device'] as const) {
    if (typeof h[f] !== 'string') throw new CorruptStateError(`worker record ${JSON.stringify(h['id'])} lacks field ${f}`);
  }
  if (!Number.isFinite(startedAt)) throw new CorruptStateError(`worker record ${h['id']} has startedAt ${JSON.stringify(h['startedAt'])}`);
  return { id: h['id'], ringAddress: h['ringAddress'], backend: h['backend'], kernel: h['kernel'], device: h['device'], startedAt };
}
