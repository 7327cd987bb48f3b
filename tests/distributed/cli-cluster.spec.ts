/**
 * `unroll up` and `unroll submit` at their edges: where Redis comes from, and what
 * a bad spec or an unreachable Redis does (exit 2, nothing enqueued); `unroll up
 * --run` (what `npm start` does) from start to stop.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findRedis, NO_REDIS_HELP } from '@unroll/cli/src/commands/up';
import { alive, deleteKeys, freshPrefix, EXITED_OK, exitOf, REDIS_URL, runUnroll } from './support/processes';
import { tinySpec, tinyWorkspace } from './support/tiny-experiment';

/** Port 1 on loopback: nothing listens there. */
const NOBODY = 'redis://127.0.0.1:1';

describe('unroll up: finding Redis', () => {
  it('uses an explicit URL that answers, and refuses one that does not', async () => {
    expect(await findRedis({ url: REDIS_URL })).toEqual({ url: REDIS_URL });
    expect(await findRedis({ url: NOBODY })).toBe('unreachable');
  });

  it('takes the local Redis when it answers', async () => {
    expect(await findRedis({ localUrl: REDIS_URL, canStart: false })).toEqual({ url: REDIS_URL });
  });

  it('starts redis-server on a free port when nothing answers, and says how to get one when it cannot', async () => {
    expect(await findRedis({ localUrl: NOBODY, canStart: false })).toBe('none');
    expect(NO_REDIS_HELP).toMatch(/apt-get install redis-server[\s\S]*docker run[\s\S]*REDIS_URL/);
    const found = await findRedis({ localUrl: NOBODY });
    if (found === 'none' || found === 'unreachable') throw new Error(`redis-server did not start: ${found}`);
    try {
      expect(found.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(found.url).not.toBe(REDIS_URL);
      expect(await findRedis({ url: found.url })).toEqual({ url: found.url });
    } finally {
      found.started?.kill('SIGKILL');
    }
  }, 20_000);

  it('exits 2 when the given Redis does not answer', async () => {
    const r = await runUnroll(['up', '--redis', NOBODY, '--workers', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Redis at redis:\/\/127\.0\.0\.1:1 does not answer/);
  }, 30_000);
});

describe('unroll submit', () => {
  const prefix = freshPrefix('submit');
  const { dir } = tinyWorkspace('unroll-submit-');

  afterAll(() => deleteKeys(prefix));

  it('refuses an invalid spec with exit 2, naming the field, and enqueues nothing', async () => {
    writeFileSync(path.join(dir, 'bad.yaml'), tinySpec().replace('hidden: 12', 'hidden: -3'));
    const r = await runUnroll(['submit', path.join(dir, 'bad.yaml'), '--redis', REDIS_URL, '--prefix', prefix]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/spec\.model\.hidden/);
    expect(r.stdout).toBe('');
    expect(await deleteKeys(prefix)).toBe(0);
  }, 30_000);

  it('queues a valid spec and prints its id', async () => {
    writeFileSync(path.join(dir, 'ok.yaml'), tinySpec({ name: 'queued' }));
    const r = await runUnroll(['submit', path.join(dir, 'ok.yaml'), '--redis', REDIS_URL, '--prefix', prefix, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ id: expect.stringMatching(/^queued-/), status: 'queued' });
    expect(await deleteKeys(prefix)).toBeGreaterThan(0);
  }, 30_000);
});

describe('unroll up --run', () => {
  const prefix = freshPrefix('uprun');
  const { dir, dataRoot } = tinyWorkspace('unroll-uprun-');

  afterAll(() => deleteKeys(prefix));

  it('starts the cluster, trains the spec on its 2 workers, scores the final checkpoint, stops every process and exits 0', async () => {
    const spec = path.join(dir, 'run.yaml');
    writeFileSync(spec, tinySpec({ name: 'uprun', workers: 2, steps: 6, every: 6 }));
    const ckpt = path.join(dir, 'ckpt');
    const r = await runUnroll(['up', '--workers', '2', '--run', spec, '--redis', REDIS_URL, '--prefix', prefix, '--data-root', dataRoot, '--checkpoint-dir', ckpt, '--backend', 'cpu'], 120_000);
    expect(exitOf(r)).toEqual(EXITED_OK);
    expect(r.stderr).toMatch(/step 6\/6 {2}loss \d/);
    expect(r.stderr).toMatch(/uprun-\S+: succeeded after 6 steps/);
    expect(r.stderr).toMatch(/validation bits\/char: \d+\.\d{3}\ncheckpoint: \S+step-00000006\.safetensors/);
    expect(existsSync(path.join(ckpt, 'uprun', 'step-00000006.safetensors'))).toBe(true);
    // Both workers computed, and every child is gone.
    const workers = new Set([...r.stderr.matchAll(/joined uprun-\S+ \(uprun\) generation 1 as rank (\d) of 2/g)].map((m) => m[1]));
    expect(workers).toEqual(new Set(['0', '1']));
    const pids = /coordinator \(pid (\d+)\) and 2 workers \(pids (\d+), (\d+)\)/.exec(r.stderr)?.slice(1).map(Number) ?? [];
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 150_000);

  it('exits 2 on a bad spec before starting anything', async () => {
    writeFileSync(path.join(dir, 'bad-run.yaml'), tinySpec().replace('hidden: 12', 'hidden: -3'));
    const r = await runUnroll(['up', '--workers', '1', '--run', path.join(dir, 'bad-run.yaml'), '--redis', REDIS_URL, '--prefix', prefix]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/spec\.model\.hidden/);
    expect(r.stderr).not.toMatch(/unroll-coordinator/);
  }, 30_000);
});
