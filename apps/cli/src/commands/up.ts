/**
 * `unroll up [--workers N] [--checkpoint-dir DIR] [--redis URL] [--prefix P]
 * [--data-root DIR] [--backend NAME] [--kernel NAME] [--threads N] [--run SPEC]`: the local
 * cluster, in one command. Each worker gets --kernel (when given) and --threads:
 * the flag, else UNROLL_BLAS_THREADS, else the cores this process may use (capped
 * by its cgroup's CPU limit) divided by the number of workers (at least 1), so N
 * workers do not oversubscribe the cores; each worker logs its count and sets
 * OMP_WAIT_POLICY=PASSIVE unless the environment sets it (worker-main.ts). On a host
 * of at most 2 cores the workers run with node --single-threaded-gc (workerNodeFlags).
 *
 *   1. Redis: --redis, else REDIS_URL, else 127.0.0.1:6379 if it answers, else a
 *      `redis-server` from PATH started on a free loopback port without persistence
 *      (--save '' --appendonly no), else print how to get one and exit 2;
 *   2. start the coordinator and N workers as child processes (each worker computes
 *      on --backend; checkpoints go to --checkpoint-dir/<experiment name>/);
 *   3. print where everything is once every child said it is ready;
 *   4. on SIGINT/SIGTERM: SIGTERM to every child, SIGKILL to those still alive after
 *      a grace period, stop the Redis it started, exit 0. A coordinator that exits by
 *      itself takes the whole cluster down (exit 1); a worker that exits is reported.
 *
 * With --run <spec.yaml> (what `npm start` does) the cluster is for that one
 * experiment: the spec is checked before anything starts (a bad one exits 2); once
 * every child is ready it is submitted and followed as `unroll submit --follow`
 * does, then — if it succeeded — its final checkpoint is scored on the held-out data
 * as `unroll eval` scores it; the cluster then stops, and the exit code is the
 * experiment's (0 succeeded, 1 otherwise).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { checkRedis, connectRedis, DEFAULT_PREFIX, redactRedisUrl, usableCores, workerNodeFlags, workerShare } from '@unroll/cluster';
import { runEvaluation } from '@unroll/bptt';
import { modelFileName } from '@unroll/checkpoint';
import type { ExperimentSpec } from '@unroll/spec';
import { backendFlag, dataRoot, kernelFlag, positiveInt, readSpec, threadsFlag } from '../context';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../errors';
import { submitCommand } from './submit';

export interface UpFlags {
  workers?: string;
  checkpointDir?: string;
  redis?: string;
  prefix?: string;
  dataRoot?: string;
  backend?: string;
  kernel?: string;
  threads?: string;
  /** A spec to submit once the cluster is up; the cluster stops when it ends. */
  run?: string;
}

/**
 * BLAS threads per local worker: the flag or UNROLL_BLAS_THREADS, else the cores
 * this process may use (capped by its cgroup's CPU limit) divided among the
 * workers, at least 1 each (workerShare).
 */
export function workerThreads(workers: number, threads: number | undefined, cores: number = usableCores()): number {
  return threads ?? workerShare(workers, cores);
}

/** Printed when no Redis can be found or started. */
export const NO_REDIS_HELP = `unroll up needs Redis, and found none:
  - nothing answers on 127.0.0.1:6379, and REDIS_URL is not set
  - redis-server is not on PATH
Get one of:
  sudo apt-get install redis-server      (Debian/Ubuntu; then run unroll up again)
  brew install redis                     (macOS)
  docker run -d -p 6379:6379 redis:7     (any machine with Docker)
or point unroll up at yours: --redis redis://host:6379 or REDIS_URL=redis://host:6379`;

/** Time children get to stop after SIGTERM before SIGKILL. */
const GRACE_MS = 5000;

const APPS = path.resolve(__dirname, '../../..');
const COORDINATOR_BIN = path.join(APPS, 'coordinator/bin/unroll-coordinator.js');
const WORKER_BIN = path.join(APPS, 'worker/bin/unroll-worker.js');

async function answers(url: string, timeoutMs: number): Promise<boolean> {
  const redis = connectRedis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectionName: 'unroll-up' });
  redis.on('error', () => undefined);
  try {
    await checkRedis(redis, { timeoutMs });
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Starts redis-server on a free loopback port; resolves once it answers. */
async function startRedis(say: (line: string) => void): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    if (child.exitCode !== null) break;
    if (await answers(url, 500)) {
      say(`started redis-server (pid ${child.pid}) on ${url}, without persistence`);
      return { url, child };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer within 5 s`);
}

export interface FindRedisOptions {
  /** An explicit URL (--redis or REDIS_URL): used if it answers, never replaced. */
  url?: string;
  /** Where a local Redis is looked for. @defaultValue redis://127.0.0.1:6379 */
  localUrl?: string;
  /** @defaultValue whether `redis-server` is on PATH */
  canStart?: boolean;
  say?: (line: string) => void;
}

/** Step 1 of `unroll up`: the Redis to use, and the redis-server child when it started one. */
export async function findRedis(o: FindRedisOptions): Promise<{ url: string; started?: ChildProcess } | 'unreachable' | 'none'> {
  if (o.url !== undefined) return (await answers(o.url, 5000)) ? { url: o.url } : 'unreachable';
  const local = o.localUrl ?? 'redis://127.0.0.1:6379';
  if (await answers(local, 1000)) return { url: local };
  if (!(o.canStart ?? onPath('redis-server'))) return 'none';
  const { url, child } = await startRedis(o.say ?? (() => undefined));
  return { url, started: child };
}

export async function upCommand(flags: UpFlags): Promise<number> {
  const say = (line: string): void => void process.stderr.write(`unroll up: ${line}\n`);
  const workers = positiveInt('--workers', flags.workers) ?? 1;
  const backend = backendFlag(flags.backend) ?? 'auto';
  const kernel = kernelFlag(flags.kernel);
  const threads = workerThreads(workers, threadsFlag(flags.threads));
  const checkpointDir = path.resolve(flags.checkpointDir ?? 'checkpoints');
  const root = dataRoot(flags.dataRoot);
  const prefix = flags.prefix ?? process.env.UNROLL_PREFIX ?? DEFAULT_PREFIX;
  // A spec to run is checked before anything starts.
  const runSpec = flags.run === undefined ? undefined : readSpec(flags.run);

  const children: Array<{ name: string; child: ChildProcess }> = [];
  const explicit = flags.redis ?? process.env.REDIS_URL;
  const found = await findRedis({ url: explicit, say });
  if (found === 'unreachable') {
    say(`Redis at ${redactRedisUrl(explicit as string)} does not answer (or its maxmemory-policy is not noeviction)`);
    return EXIT_USAGE;
  }
  if (found === 'none') {
    process.stderr.write(`${NO_REDIS_HELP}\n`);
    return EXIT_USAGE;
  }
  const url = found.url;
  const redisChild = found.started;

  const killAll = (signal: NodeJS.Signals): void => {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  // If this process dies for any reason, its children must not outlive it.
  const onExit = (): void => {
    killAll('SIGKILL');
    redisChild?.kill('SIGKILL');
  };
  process.on('exit', onExit);

  let ready = 0;
  let announced = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const start = (name: string, bin: string, args: string[], nodeFlags: string[] = []): void => {
    const child = spawn(process.execPath, [...nodeFlags, bin, '--redis', url, '--prefix', prefix, ...args], { stdio: ['ignore', 'inherit', 'pipe'] });
    children.push({ name, child });
    let buffered = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        // With --run the submit's progress line says how the run goes: the coordinator's line per step is left out.
        if (!(flags.run !== undefined && name === 'coordinator' && / step \d+\/\d+ loss /.test(line))) process.stderr.write(`${line}\n`);
        if (/^unroll-(worker|coordinator): ready/.test(line) && ++ready === workers + 1 && !announced) {
          announced = true;
          say(
            `ready: coordinator (pid ${children[0].child.pid}) and ${workers} worker${workers > 1 ? 's' : ''} (pids ${children
              .slice(1)
              .map((c) => c.child.pid)
              .join(', ')}); redis ${redactRedisUrl(url)} prefix ${prefix}; data root ${root}; checkpoints in ${checkpointDir}/<experiment name>/. ` +
              (flags.run === undefined
                ? `Submit with: unroll submit <spec.yaml> --follow${flags.redis || redisChild ? ` --redis ${redactRedisUrl(url)}` : ''}${prefix !== DEFAULT_PREFIX ? ` --prefix ${prefix}` : ''}`
                : `running ${flags.run}`),
          );
          if (flags.run !== undefined && runSpec !== undefined) void runOnce(flags.run, runSpec).then(finish, (e: unknown) => {
            say(`${flags.run}: ${e instanceof Error ? e.message : String(e)}`);
            finish(EXIT_FAILURE);
          });
        }
      }
    });
    child.on('exit', (code, signal) => {
      if (stopping) return;
      say(`${name} (pid ${child.pid}) exited (${signal ?? `code ${code}`})`);
      // With --run, a child that dies before the cluster is up means the run cannot start.
      if (name === 'coordinator' || (flags.run !== undefined && !announced)) finish(EXIT_FAILURE);
    });
  };

  let stopping = false;
  const stop = async (code: number): Promise<number> => {
    stopping = true;
    killAll('SIGTERM');
    const deadline = Date.now() + GRACE_MS;
    while (Date.now() < deadline && children.some(({ child }) => child.exitCode === null && child.signalCode === null)) await new Promise((r) => setTimeout(r, 50));
    killAll('SIGKILL');
    if (redisChild) {
      redisChild.kill('SIGTERM');
      say('stopped the redis-server it started');
    }
    process.off('exit', onExit);
    return code;
  };
  // Stopped by a signal: a plain cluster exits 0; a --run whose experiment had not ended exits 1 (it did not succeed).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => finish(flags.run === undefined ? EXIT_OK : EXIT_FAILURE));

  /** --run: submit, follow to the end, score the final checkpoint. */
  const runOnce = async (file: string, spec: ExperimentSpec): Promise<number> => {
    const code = await submitCommand(file, { follow: true, redis: url, prefix });
    if (code !== EXIT_OK) return code;
    const checkpoint = path.join(checkpointDir, spec.metadata.name, modelFileName(spec.spec.steps));
    const result = await runEvaluation({ spec, dataRoot: root, checkpoint, backend: backend === 'auto' ? undefined : backend, kernel: { kernel, threads: threadsFlag(flags.threads), log: () => undefined } });
    process.stderr.write(`validation ${spec.spec.data.dataset === 'text' ? 'bits/char' : 'bits/token'}: ${result.bitsPerToken.toFixed(3)}\ncheckpoint: ${path.relative(process.cwd(), checkpoint)}\n`);
    return EXIT_OK;
  };

  start('coordinator', COORDINATOR_BIN, []);
  // On a small host the workers collect garbage on their own threads only (workerNodeFlags).
  const nodeFlags = workerNodeFlags();
  for (let i = 0; i < workers; i++) start(`worker ${i}`, WORKER_BIN, ['--data-root', root, '--checkpoint-dir', checkpointDir, '--backend', backend, ...(kernel ? ['--kernel', kernel] : []), '--threads', String(threads)], nodeFlags);
  return stop(await finished);
}
