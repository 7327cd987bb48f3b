/**
 * Fault test: a worker process that dies holding a window job (SIGKILL, no clean-up)
 * loses its lock, and the job runs on another worker; the step still completes.
 */
import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { BullWindowQueue } from './bull-window-queue';
import { WindowJob } from './interfaces';
import { RedisTestEnv, openRedisTestEnv } from './testing/redis-test-env';

const SCRIPT = join(__dirname, 'testing', 'window-consumer-process.ts');

describe('BullWindowQueue: a worker killed mid-job', () => {
  let env: RedisTestEnv;
  let child: ChildProcess | undefined;
  const queues: BullWindowQueue[] = [];
  beforeEach(async () => {
    env = await openRedisTestEnv();
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    await Promise.all(queues.map((q) => q.close()));
    await env.close();
  });

  it('has its job retried elsewhere within about lockDuration + stalledInterval', async () => {
    const opts = { prefix: env.prefix, lockDurationMs: 1000, stalledIntervalMs: 500, backoffMs: 20 };
    const coordinator = new BullWindowQueue(env.redis, opts);
    queues.push(coordinator);
    const doomed = fork(SCRIPT, [], {
      execArgv: ['--require', 'tsx/cjs'],
      env: { ...process.env, UNROLL_PREFIX: env.prefix, UNROLL_WORKER_ID: 'doomed' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child = doomed;
    const started = new Promise<number>((resolve, reject) => {
      doomed.on('message', (m: { started?: number }) => m.started !== undefined && resolve(m.started));
      doomed.on('exit', (code) => reject(new Error(`consumer process exited with ${code} before taking a job`)));
    });
    await new Promise<void>((resolve) => doomed.on('message', (m: { ready?: boolean }) => m.ready && resolve()));

    const jobs: WindowJob[] = [{ experiment: 'exp', generation: 1, step: 0, firstStream: 0, streams: 4 }];
    const run = coordinator.runStep(jobs, { timeoutMs: 20_000 });
    expect(await started).toBe(0);
    doomed.kill('SIGKILL');
    const killedAt = Date.now();

    const survivor = new BullWindowQueue(env.redis, opts);
    queues.push(survivor);
    await survivor.consume('survivor', async (job) => ({ lossSum: 1, count: job.streams, worker: 'survivor', computeSeconds: 0 }));
    const [result] = await run;
    expect(result.worker).toBe('survivor');
    expect(Date.now() - killedAt).toBeLessThan(5000);
  }, 30_000);
});
