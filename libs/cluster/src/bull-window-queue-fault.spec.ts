/**
 * Fault tests: a worker process that dies holding a window job (SIGKILL, no clean-up)
 * loses its lock, and the job runs on another worker; the step still completes. A
 * worker that stalls (its event loop blocked past the lock) loses the job the same
 * way, but lives on and computes it too: the queue accepts one result — the one
 * runStep returns, whose `worker` the coordinator's 'reduce' names (exactly-once
 * contributions, apps/worker/src/experiment-session.ts).
 */
import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { BullWindowQueue } from './bull-window-queue';
import { WindowJob } from './interfaces';
import { RedisTestEnv, openRedisTestEnv } from './testing/redis-test-env';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const SCRIPT = join(__dirname, 'testing', 'window-consumer-process.ts');

function forkConsumer(prefix: string, id: string, extraEnv: Record<string, string> = {}): ChildProcess {
  return fork(SCRIPT, [], {
    execArgv: ['--require', 'tsx/cjs'],
    env: { ...process.env, UNROLL_PREFIX: prefix, UNROLL_WORKER_ID: id, ...extraEnv },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function nextMessage<K extends string>(child: ChildProcess, key: K): Promise<unknown> {
  return new Promise((resolve, reject) => {
    child.on('message', (m: Record<string, unknown>) => key in m && resolve(m[key]));
    child.on('exit', (code) => reject(new Error(`consumer process exited with ${code} before sending ${key}`)));
  });
}

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
    const doomed = forkConsumer(env.prefix, 'doomed');
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

  it('a stalled worker that finishes after its job was taken over: the queue accepts one result, the second worker’s', async () => {
    const opts = { prefix: env.prefix, lockDurationMs: 1000, stalledIntervalMs: 500, backoffMs: 20 };
    const coordinator = new BullWindowQueue(env.redis, opts);
    queues.push(coordinator);
    const stalled = forkConsumer(env.prefix, 'stalled', { UNROLL_BLOCK_MS: '4000' });
    child = stalled;
    await nextMessage(stalled, 'ready');
    const started = nextMessage(stalled, 'started');
    const finished = nextMessage(stalled, 'finished');

    const jobs: WindowJob[] = [{ experiment: 'exp', generation: 1, step: 0, firstStream: 0, streams: 4 }];
    const run = coordinator.runStep(jobs, { timeoutMs: 20_000 });
    expect(await started).toBe(0);
    // The stalled worker holds the job with its event loop blocked; a second worker takes it over once the lock expires.
    const survivor = new BullWindowQueue(env.redis, opts);
    queues.push(survivor);
    let survivorRuns = 0;
    await survivor.consume('survivor', async (job) => {
      survivorRuns++;
      return { lossSum: 2, count: job.streams, worker: 'survivor', computeSeconds: 0 };
    });
    const [result] = await run;
    expect(result.worker).toBe('survivor');
    // The stalled worker computed it too, and returned its own result: that one was not accepted.
    expect(await finished).toBe(0);
    await sleep(500);
    expect(survivorRuns).toBe(1);
    expect(stalled.exitCode).toBeNull();
  }, 30_000);
});
