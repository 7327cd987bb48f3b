/**
 * How many BLAS threads a worker's native kernel runs, and how its OpenMP threads
 * wait — so that several workers on one host (`unroll up --workers N`, a benchmark,
 * pods on one node) do not oversubscribe the cores.
 *
 * Threads, first that applies:
 *   1. --threads N (the worker flag; `unroll up --workers N` passes each worker
 *      max(1, floor(cores / N)), see workerShare)
 *   2. UNROLL_BLAS_THREADS
 *   3. the cores this process may use (usableCores): its CPU affinity, capped by
 *      the cgroup's CPU quota — in Kubernetes the pod's CPU limit (cgroup v2
 *      cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us), rounded down, at least 1.
 *
 * OMP_WAIT_POLICY: the addon's OpenBLAS is an OpenMP build; by default its idle
 * threads spin after each parallel region, burning a core another worker's compute
 * thread, the event loop or Redis needed. Measured on the 2-core dev VM under load
 * (the bench shapes' LSTM window, micro-batch 8, 2 BLAS threads): 297–364 ms of CPU
 * and 327–584 ms wall a step spinning, 61–86 ms CPU and 78–97 ms wall with PASSIVE.
 * A worker therefore sets OMP_WAIT_POLICY=PASSIVE unless the environment sets it;
 * libgomp reads it once, when the addon loads, so it is set before that.
 *
 * V8's garbage collector: by default it marks and compacts with helper threads, which
 * on a host of 1–2 cores compete with the compute thread's BLAS threads and the event
 * loop. `node --single-threaded-gc` (a flag of node's command line: NODE_OPTIONS
 * refuses it and V8 cannot take it once running) measured on the 2-core dev VM,
 * 2026-11-26, one run each with and without side by side: 2 workers of the bench
 * shapes 14.0k–16.6k → 17.2k–20.3k tokens/s (bench/cluster step-overhead.ts
 * --node-args), `unroll train` on 2 BLAS threads 6.9k–7.0k → 9.0k–9.3k tokens/s.
 * workerNodeFlags gives it where a process has at most 2 cores.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';

/** The cgroup's CPU quota in cores (rounded down, at least 1), or undefined when there is none or it cannot be read. */
export function cgroupCpuLimit(read: (file: string) => string | undefined = readText): number | undefined {
  // cgroup v2: "max 100000" (no limit) or "<quota> <period>".
  const v2 = read('/sys/fs/cgroup/cpu.max')?.trim().split(/\s+/);
  if (v2 && v2.length === 2) return v2[0] === 'max' ? undefined : cores(Number(v2[0]), Number(v2[1]));
  // cgroup v1: quota −1 means no limit.
  for (const dir of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct']) {
    const quota = read(`${dir}/cpu.cfs_quota_us`);
    const period = read(`${dir}/cpu.cfs_period_us`);
    if (quota !== undefined && period !== undefined) return Number(quota) > 0 ? cores(Number(quota), Number(period)) : undefined;
  }
  return undefined;
}

function cores(quota: number, period: number): number | undefined {
  if (!(quota > 0) || !(period > 0)) return undefined;
  return Math.max(1, Math.floor(quota / period));
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Cores this process may use: its CPU affinity, capped by the cgroup's CPU quota. */
export function usableCores(limit: number | undefined = cgroupCpuLimit()): number {
  const affinity = typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
  return limit === undefined ? affinity : Math.max(1, Math.min(affinity, limit));
}

/** BLAS threads of each of `workers` workers sharing `cores`: max(1, floor(cores / workers)). */
export function workerShare(workers: number, cores: number = usableCores()): number {
  return Math.max(1, Math.floor(cores / workers));
}

export interface WorkerThreads {
  threads: number;
  /** Where the number came from, for the worker's log line. */
  source: '--threads' | 'UNROLL_BLAS_THREADS' | 'cgroup CPU limit' | 'cores available';
}

/** Step 1–3 of the file comment; `flag` is the --threads value, already validated. */
export function workerThreads(flag: number | undefined, env: NodeJS.ProcessEnv = process.env, limit: number | undefined = cgroupCpuLimit()): WorkerThreads {
  if (flag !== undefined) return { threads: flag, source: '--threads' };
  const v = env.UNROLL_BLAS_THREADS;
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`UNROLL_BLAS_THREADS expects a positive integer (BLAS threads), got ${JSON.stringify(v)}`);
    return { threads: n, source: 'UNROLL_BLAS_THREADS' };
  }
  const all = usableCores(undefined);
  const threads = usableCores(limit);
  return { threads, source: threads < all ? 'cgroup CPU limit' : 'cores available' };
}

/** Sets OMP_WAIT_POLICY=PASSIVE in `env` unless it is set; returns the policy in effect. Call before the native addon loads. */
export function passiveOpenMp(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OMP_WAIT_POLICY === undefined || env.OMP_WAIT_POLICY === '') env.OMP_WAIT_POLICY = 'PASSIVE';
  return env.OMP_WAIT_POLICY;
}

/**
 * Node flags for a worker process (`unroll up`'s workers, the deployment's, the benchmarks') with `cores` usable
 * cores: --single-threaded-gc on at most 2 (see above), none on more (unmeasured there).
 */
export function workerNodeFlags(cores: number = usableCores()): string[] {
  return cores <= 2 ? ['--single-threaded-gc'] : [];
}
