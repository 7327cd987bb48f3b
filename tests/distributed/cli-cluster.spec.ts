/**
 * `unroll up` and `unroll submit` at their edges: where Redis comes from, and what
 * a bad spec or an unreachable Redis does (exit 2, nothing enqueued).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { findRedis, NO_REDIS_HELP } from '@unroll/cli/src/commands/up';
import { deleteKeys, freshPrefix, REDIS_URL, runUnroll } from './support/processes';
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
