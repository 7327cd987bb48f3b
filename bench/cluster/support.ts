/**
 * Shared pieces of the cluster benchmarks: a coordinator in this process (the
 * ExperimentRunner over the Redis stores and BullMQ, as coordinator-main.ts wires
 * it, so that every StepOutcome is seen) and workers as real `unroll-worker`
 * processes (Redis, BullMQ, gRPC ring, their own event loops), all under one fresh
 * Redis key prefix that is deleted at the end.
 *
 * The coordinator's WindowQueue is wrapped (TappedWindowQueue): it records every
 * step's WindowResults (per-job computeSeconds and worker) and can run a hook
 * before a step's jobs are enqueued — a point where the previous step is fully
 * committed and its old hidden states deleted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import {
  BullWindowQueue,
  checkRedis,
  connectRedis,
  RedisControlBus,
  RedisExperimentStore,
  RedisHiddenStateStore,
  RedisMembershipStore,
  type WindowJob,
  type WindowQueue,
  type WindowResult,
} from '@unroll/cluster';
import { deleteKeys, scanKeys } from '@unroll/cluster/testing';
import { ExperimentPhase, ExperimentRunner, MembershipWatcher, type StepOutcome } from '@unroll/coordinator';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REPO_ROOT = path.resolve(__dirname, '../..');
const WORKER_BIN = path.join(REPO_ROOT, 'apps/worker/bin/unroll-worker.js');

export function freshPrefix(name: string): string {
  return `bench-${name}-${randomBytes(4).toString('hex')}`;
}

export function machine(): string {
  const [l1, l5, l15] = loadavg();
  return `nproc ${cpus().length}, load ${l1.toFixed(2)} ${l5.toFixed(2)} ${l15.toFixed(2)}`;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
}

/** Least-squares slope and intercept of y over x. */
export function fitLine(x: readonly number[], y: readonly number[]): { slope: number; intercept: number } {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/** Jiffies of the whole machine (busy, total) from /proc/stat; undefined off Linux. */
function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - f[3] - (f[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process used so far, from /proc/<pid>/stat (Linux; 100 ticks/s). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Threads of a process, from /proc/<pid>/status. */
export function processThreads(pid: number): number {
  try {
    return Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  } catch {
    return Number.NaN;
  }
}

/**
 * Machine CPU use between start() and stop(): busy cores (0..nproc) on average.
 * The load average of this VM reads about 2 even when every core is idle, so it
 * does not tell whether other work competed; this does.
 */
export function cpuMeter(): { stop(): number } {
  const a = machineJiffies();
  return {
    stop: () => {
      const b = machineJiffies();
      if (!a || !b || b.total === a.total) return Number.NaN;
      return ((b.busy - a.busy) / (b.total - a.total)) * cpus().length;
    },
  };
}

/** A fresh directory with `data/<file>` holding `text`, and a checkpoint directory. */
export function workspace(name: string, file: string, text: string): { dir: string; dataRoot: string; checkpointDir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `unroll-bench-${name}-`));
  const dataRoot = path.join(dir, 'data');
  const checkpointDir = path.join(dir, 'ckpt');
  mkdirSync(dataRoot);
  mkdirSync(checkpointDir);
  writeFileSync(path.join(dataRoot, file), text);
  return { dir, dataRoot, checkpointDir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Throws unless the other checkout's worker would load that checkout's own libraries. */
function assertOwnLibraries(tree: string): void {
  const root = path.resolve(tree);
  const resolved = realpathSync(require.resolve('@unroll/collective', { paths: [path.join(root, 'apps/worker')] }));
  if (!resolved.startsWith(`${realpathSync(root)}${path.sep}`)) {
    throw new Error(`--worker-tree ${tree}: its @unroll/collective resolves to ${resolved}, outside it — give it a node_modules whose @unroll/* links point into it`);
  }
}

/** One `unroll-worker` child process. */
export interface WorkerProcess {
  id: string;
  child: ChildProcess;
  log(): string;
  /** SIGTERM (it deregisters), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a worker. `threads`: its BLAS threads — pass workerShare(n) for n workers
 * on this machine, the rule `unroll up` applies (libs/cluster worker-threads.ts);
 * unset, the worker takes every usable core. `nodeArgs` go to node before the
 * script (e.g. --cpu-prof --cpu-prof-dir DIR), `args` to the worker after the others
 * (e.g. --speculate off). `workerTree`: run the worker of another checkout of this
 * repository — an A/B of worker code in one benchmark run; the coordinator stays this
 * tree's. Its `@unroll/*` packages must resolve inside it (checked): linking its
 * node_modules to this tree's whole would make it run this tree's libraries, since
 * the workspace links are relative symlinks that resolve to their real location.
 */
export async function startWorker(o: { id: string; prefix: string; dataRoot: string; checkpointDir: string; backend: string; threads?: number; nodeArgs?: string[]; args?: string[]; workerTree?: string }): Promise<WorkerProcess> {
  if (o.workerTree) assertOwnLibraries(o.workerTree);
  const args = [...(o.nodeArgs ?? []), o.workerTree ? path.join(path.resolve(o.workerTree), 'apps/worker/bin/unroll-worker.js') : WORKER_BIN, '--redis', REDIS_URL, '--prefix', o.prefix, '--data-root', o.dataRoot, '--checkpoint-dir', o.checkpointDir, '--backend', o.backend, '--id', o.id, ...(o.threads ? ['--threads', String(o.threads)] : []), ...(o.args ?? [])];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${o.id} not ready within 60 s:\n${output}`)), 60_000);
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('unroll-worker: ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${o.id} exited (${code}) before it was ready:\n${output}`));
    });
  });
  return {
    id: o.id,
    child,
    log: () => output,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The coordinator's WindowQueue, recording every step's results and running `beforeStep` first. */
export class TappedWindowQueue implements WindowQueue {
  /** WindowResults of each step, in micro-batch order. */
  readonly results = new Map<number, WindowResult[]>();
  beforeStep: ((step: number) => Promise<void>) | undefined;

  constructor(private readonly inner: WindowQueue) {}

  async runStep(jobs: WindowJob[], opts?: { timeoutMs?: number }): Promise<WindowResult[]> {
    await this.beforeStep?.(jobs[0].step);
    const results = await this.inner.runStep(jobs, opts);
    this.results.set(jobs[0].step, results);
    return results;
  }

  consume(workerId: string, handler: (job: WindowJob) => Promise<WindowResult>, opts?: { concurrency?: number }): Promise<() => Promise<void>> {
    return this.inner.consume(workerId, handler, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A step as the coordinator saw it: its outcome, when onStep heard of it, and the jobs' results. */
export interface ObservedStep {
  outcome: StepOutcome;
  /** performance.now() in ms when onStep was called. */
  at: number;
  results: WindowResult[];
}

/** The coordinator in this process, over Redis under `prefix`. */
export class BenchCoordinator {
  readonly redis: Redis;
  readonly windows: TappedWindowQueue;
  readonly experiments: RedisExperimentStore;
  readonly membership: RedisMembershipStore;
  private readonly bull: BullWindowQueue;
  private readonly bus: RedisControlBus;
  private readonly runner: ExperimentRunner;
  private readonly steps: ObservedStep[] = [];
  onStep: ((s: ObservedStep, total: number) => void) | undefined;
  /** Id of the experiment being run (or last run). */
  current = '';

  private constructor(
    readonly prefix: string,
    redis: Redis,
  ) {
    this.redis = redis;
    this.bus = new RedisControlBus(redis, { prefix });
    this.bull = new BullWindowQueue(redis, { prefix });
    this.windows = new TappedWindowQueue(this.bull);
    this.experiments = new RedisExperimentStore(redis, { prefix });
    this.membership = new RedisMembershipStore(redis, { prefix });
    this.runner = new ExperimentRunner(
      {
        experiments: this.experiments,
        states: new RedisHiddenStateStore(redis, { prefix }),
        bus: this.bus,
        windows: this.windows,
        watcher: new MembershipWatcher(this.membership, { formTimeoutMs: 30_000 }),
      },
      {
        log: (line) => {
          if (/failed|refused|error/i.test(line)) process.stderr.write(`coordinator: ${line}\n`);
        },
        onStep: (_id, outcome, total) => {
          const s = { outcome, at: performance.now(), results: this.windows.results.get(outcome.step) ?? [] };
          this.windows.results.delete(outcome.step);
          this.steps.push(s);
          this.onStep?.(s, total);
        },
      },
    );
  }

  static async open(prefix: string): Promise<BenchCoordinator> {
    const redis = connectRedis(REDIS_URL, { connectionName: 'unroll-bench-coordinator' });
    await checkRedis(redis);
    return new BenchCoordinator(prefix, redis);
  }

  /** Creates the experiment from `specYaml`, runs it to its end; returns the steps seen and the run's wall seconds. */
  async run(name: string, specYaml: string): Promise<{ id: string; steps: ObservedStep[]; startedAt: number; seconds: number }> {
    const id = `${name}-${randomBytes(3).toString('hex')}`;
    this.current = id;
    await this.experiments.create({ id, specYaml, status: 'queued', step: 0, generation: 0, members: [] });
    this.steps.length = 0;
    const startedAt = performance.now();
    const phase = await this.runner.run(id);
    const seconds = (performance.now() - startedAt) / 1000;
    if (phase !== ExperimentPhase.Succeeded) {
      const record = await this.experiments.get(id);
      throw new Error(`experiment ${id} ended ${phase}: ${record?.error ?? '(no error recorded)'}`);
    }
    return { id, steps: [...this.steps], startedAt, seconds };
  }

  /** Every key under the prefix (SCAN). */
  keys(): Promise<string[]> {
    return scanKeys(this.redis, `${this.prefix}:*`);
  }

  /** Closes the queue and bus, deletes every key under the prefix; returns how many were deleted. */
  async close(): Promise<number> {
    await this.bull.close().catch(() => undefined);
    await this.bus.close().catch(() => undefined);
    const keys = await this.keys();
    await deleteKeys(this.redis, keys);
    const left = (await this.keys()).length;
    await this.redis.quit();
    if (left > 0) throw new Error(`${left} keys left under ${this.prefix}: after cleanup`);
    return keys.length;
  }
}
