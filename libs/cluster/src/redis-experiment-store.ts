import { Redis } from 'ioredis';
import { CorruptStateError, ExperimentExistsError, ExperimentNotFoundError, FencingError } from './cluster-errors';
import { fencingMessage } from './experiment-fencing';
import { ExperimentRecord, ExperimentStatus, ExperimentStore } from './interfaces';
import { DEFAULT_PREFIX, LuaScript, RedisStoreOptions, validatePrefix } from './lua-script';

/**
 * ExperimentStore on Redis.
 *
 * Keys (P = prefix):
 *   P:exp:<id>   HASH  id, specYaml, status, step, generation, members (JSON array of ids),
 *                      error (only when set), updatedAt (ms since epoch)
 *
 * Every write is one Lua script over that one hash, so it is atomic: create refuses an
 * existing record, newGeneration increments and replaces the members together, and
 * commit compares (generation, step) with the stored ones and advances the step in the
 * same indivisible step — the generation is the fencing token (DESIGN invariant 4), so
 * a coordinator of an older generation, or a second commit of the same step, is refused.
 */
export class RedisExperimentStore implements ExperimentStore {
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    opts: RedisStoreOptions = {},
  ) {
    this.prefix = validatePrefix(opts.prefix ?? DEFAULT_PREFIX);
  }

  private key(id: string): string {
    return `${this.prefix}:exp:${id}`;
  }

  async create(record: Omit<ExperimentRecord, 'updatedAt'>): Promise<void> {
    const fields: Array<string | number> = [
      'id', record.id,
      'specYaml', record.specYaml,
      'status', record.status,
      'step', record.step,
      'generation', record.generation,
      'members', JSON.stringify(record.members),
      'updatedAt', Date.now(),
    ];
    if (record.error !== undefined) fields.push('error', record.error);
    const created = await CREATE.run(this.redis, [this.key(record.id)], fields);
    if (created !== 1) throw new ExperimentExistsError(record.id);
  }

  async get(id: string): Promise<ExperimentRecord | undefined> {
    const h = await this.redis.hgetall(this.key(id));
    if (Object.keys(h).length === 0) return undefined;
    return parseRecord(id, h);
  }

  async newGeneration(id: string, members: string[]): Promise<number> {
    const generation = await NEW_GENERATION.run(this.redis, [this.key(id)], [JSON.stringify(members), Date.now()]);
    if (generation === -1) throw new ExperimentNotFoundError(id);
    return generation as number;
  }

  async commit(id: string, generation: number, step: number): Promise<void> {
    const reply = (await COMMIT.run(this.redis, [this.key(id)], [generation, step, Date.now()])) as number[];
    if (reply[0] === -1) throw new ExperimentNotFoundError(id);
    if (reply[0] === 0) {
      throw new FencingError(fencingMessage(id, { generation: reply[1], step: reply[2] }, { generation, step }));
    }
  }

  async setStatus(id: string, status: ExperimentStatus, error?: string): Promise<void> {
    const args = error === undefined ? [status, Date.now()] : [status, Date.now(), error];
    if ((await SET_STATUS.run(this.redis, [this.key(id)], args)) !== 1) throw new ExperimentNotFoundError(id);
  }
}

const CREATE = new LuaScript(
  'experiment-create',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`,
);

const NEW_GENERATION = new LuaScript(
  'experiment-new-generation',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local generation = redis.call('HINCRBY', KEYS[1], 'generation', 1)
redis.call('HSET', KEYS[1], 'members', ARGV[1], 'updatedAt', ARGV[2])
return generation
`,
);

// Reply: {1} committed, {0, generation, step} refused (the stored values), {-1} no record.
const COMMIT = new LuaScript(
  'experiment-commit',
  `
local current = redis.call('HMGET', KEYS[1], 'generation', 'step')
if current[1] == false then return {-1} end
local generation, step = tonumber(current[1]), tonumber(current[2])
if generation ~= tonumber(ARGV[1]) or step ~= tonumber(ARGV[2]) then return {0, generation, step} end
redis.call('HSET', KEYS[1], 'step', step + 1, 'updatedAt', ARGV[3])
return {1}
`,
);

const SET_STATUS = new LuaScript(
  'experiment-set-status',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updatedAt', ARGV[2])
if ARGV[3] then redis.call('HSET', KEYS[1], 'error', ARGV[3]) else redis.call('HDEL', KEYS[1], 'error') end
return 1
`,
);

const STATUSES: readonly ExperimentStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

function parseRecord(id: string, h: Record<string, string>): ExperimentRecord {
  const bad = (field: string): never => {
    throw new CorruptStateError(`experiment record ${JSON.stringify(id)} has an invalid ${field}: ${JSON.stringify(h[field])}`);
  };
  const int = (field: string): number => {
    const v = Number(h[field]);
    return Number.isInteger(v) ? v : bad(field);
  };
  let members: unknown;
  try {
    members = JSON.parse(h['members'] ?? 'null');
  } catch {
    bad('members');
  }
  if (!Array.isArray(members) || !members.every((m) => typeof m === 'string')) bad('members');
  const status = h['status'] as ExperimentStatus;
  if (!STATUSES.includes(status)) bad('status');
  if (typeof h['specYaml'] !== 'string') bad('specYaml');
  const record: ExperimentRecord = {
    id,
    specYaml: h['specYaml'],
    status,
    step: int('step'),
    generation: int('generation'),
    members: members as string[],
    updatedAt: int('updatedAt'),
  };
  if (h['error'] !== undefined) record.error = h['error'];
  return record;
}
