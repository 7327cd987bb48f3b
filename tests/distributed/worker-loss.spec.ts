/**
 * A worker process SIGKILLed in the middle of a run: until elastic recovery exists
 * (a new generation without it), the experiment must fail — promptly, with an error
 * that names the dead worker — and `unroll submit --follow` must exit 1. No hang.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deleteKeys, freshPrefix, REDIS_URL, runUnroll, startUp, type UpProcess } from './support/processes';
import { tinySpec, tinyWorkspace } from './support/tiny-experiment';

describe('a worker that dies mid-run', () => {
  let dir: string;
  let dataRoot: string;
  let up: UpProcess | undefined;
  const prefix = freshPrefix('loss');

  beforeAll(() => {
    ({ dir, dataRoot } = tinyWorkspace('unroll-loss-'));
  });

  afterAll(async () => {
    await up?.stop();
    await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails the experiment with an error naming it, and submit --follow exits 1', async () => {
    up = startUp(['--workers', '2', '--redis', REDIS_URL, '--prefix', prefix, '--data-root', dataRoot, '--checkpoint-dir', path.join(dir, 'ckpt'), '--backend', 'cpu']);
    const [, , victim] = await up.ready;
    const victimId = new RegExp(`ready: id (\\S+-${victim}-[0-9a-f]+),`).exec(up.log())?.[1];
    expect(victimId).toBeDefined();
    writeFileSync(path.join(dir, 'long.yaml'), tinySpec({ name: 'loss', workers: 2, steps: 100000, every: 100000, hidden: 16, layers: 1 }));
    const follow = runUnroll(['submit', path.join(dir, 'long.yaml'), '--follow', '--redis', REDIS_URL, '--prefix', prefix], 90_000);
    // Let it train a few steps, then kill one worker for real.
    const started = Date.now();
    while (!/step [5-9]\/100000/.test(up.log())) {
      if (Date.now() - started > 60_000) throw new Error(`the run did not reach step 5 within 60 s:\n${up.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    const r = await follow;
    const seconds = (Date.now() - killedAt) / 1000;
    expect(r.code).toBe(1);
    // Named either by the survivor whose ring stream broke, or by the heartbeat's expiry (10 s TTL).
    expect(r.stderr).toMatch(new RegExp(`failed at step \\d+: .*(ring peer ${victimId} PeerDeadlineError|worker ${victimId} stopped heartbeating)`));
    expect(seconds).toBeLessThan(30);
    process.stdout.write(`worker ${victimId} SIGKILLed; experiment failed ${seconds.toFixed(1)} s later: ${r.stderr.trim().split('\n').pop()}\n`);
  }, 120_000);
});
