/**
 * Real processes for the distributed tests: `unroll up` (coordinator + workers as
 * its children) and `unroll submit`, with every pid remembered so that the test can
 * SIGKILL whatever is still alive at the end, and a Redis key prefix per test whose
 * keys are deleted afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connectRedis } from '@unroll/cluster';
import { REPO_ROOT, UNROLL_BIN } from '../../support/run-cli';

export const REDIS_URL = 'redis://127.0.0.1:6379';

export function freshPrefix(name: string): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under `prefix:`; returns how many. */
export async function deleteKeys(prefix: string): Promise<number> {
  const redis = connectRedis(REDIS_URL);
  try {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface UpProcess {
  child: ChildProcess;
  /** Everything it (and its children) wrote on stderr so far. */
  log(): string;
  /** pids of the coordinator and the workers, once ready. */
  ready: Promise<number[]>;
  /** SIGTERM, then SIGKILL to it and its children if they are not gone within `graceMs`. Resolves with its exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/** `unroll up <args>`, with `env` as its whole environment (default: this process's). */
export function startUp(args: string[], env: NodeJS.ProcessEnv = process.env): UpProcess {
  const child = spawn(UNROLL_BIN, ['up', ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let pids: number[] = [];
  const ready = new Promise<number[]>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /unroll up: ready: coordinator \(pid (\d+)\) and \d+ workers? \(pids ([\d, ]+)\)/.exec(output);
      if (m && pids.length === 0) {
        pids = [Number(m[1]), ...m[2].split(', ').map(Number)];
        resolve(pids);
      }
    });
    child.on('exit', (code) => reject(new Error(`unroll up exited (${code}) before it was ready:\n${output}`)));
  });
  ready.catch(() => undefined);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    log: () => output,
    ready,
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
      return code;
    },
  };
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What a process that succeeded gives exitOf. */
export const EXITED_OK = Object.freeze({ code: 0, stderr: '' });

/**
 * Compare with EXITED_OK: the exit code and, when it is not 0, the tail of stderr
 * (and of `log`, e.g. `unroll up`'s) — jest's diff shows only what differs, so a
 * failed run then says why.
 */
export function exitOf(r: Pick<Finished, 'code' | 'stderr'>, log?: () => string): { code: number | null; stderr: string } {
  if (r.code === 0) return { ...EXITED_OK };
  return { code: r.code, stderr: `${r.stderr.slice(-1500)}${log ? `\n--- log\n${log().slice(-3000)}` : ''}` };
}

/** Runs `unroll <args>` to its end (SIGKILL after `timeoutMs`). */
export function runUnroll(args: string[], timeoutMs = 120_000): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(UNROLL_BIN, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`unroll ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export const COORDINATOR_BIN = `${REPO_ROOT}/apps/coordinator/bin/unroll-coordinator.js`;
export const WORKER_BIN = `${REPO_ROOT}/apps/worker/bin/unroll-worker.js`;

export interface NodeProcess {
  child: ChildProcess;
  /** Everything it wrote on stderr so far. */
  log(): string;
  /** Resolves with the line once it printed its `ready` line. */
  ready: Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves with its exit code (null if killed). */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * One coordinator or worker process, started directly (not through `unroll up`) so
 * that each can get its own flags: `--throttle-ms`, `--backend`, `--id`.
 */
export function startNode(kind: 'coordinator' | 'worker', args: string[], env: NodeJS.ProcessEnv = {}): NodeProcess {
  const bin = kind === 'coordinator' ? COORDINATOR_BIN : WORKER_BIN;
  const child = spawn(process.execPath, [bin, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  const ready = new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
      const m = new RegExp(`^unroll-${kind}: ready.*$`, 'm').exec(output);
      if (m) resolve(m[0]);
    });
    child.on('exit', (code) => reject(new Error(`${kind} exited (${code}) before it was ready:\n${output}`)));
  });
  ready.catch(() => undefined);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    log: () => output,
    ready,
    async stop(graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
