/** What every command reads from flags and the environment. */
import path from 'node:path';
import { loadSpecFile, type ExperimentSpec } from '@unroll/spec';
import { UsageError } from './errors';

/** `--data-root`, else UNROLL_DATA_ROOT, else ./data. */
export function dataRoot(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(flag ?? env.UNROLL_DATA_ROOT ?? 'data');
}

export function readSpec(file: string): ExperimentSpec {
  return loadSpecFile(file);
}

export function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} expects a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

const BACKENDS = ['auto', 'cpu', 'wasm', 'tensorflow', 'tensorflow-gpu'] as const;
export type BackendFlag = (typeof BACKENDS)[number];

export function backendFlag(value: string | undefined): BackendFlag | undefined {
  if (value === undefined) return undefined;
  if (!(BACKENDS as readonly string[]).includes(value)) throw new UsageError(`--backend expects one of ${BACKENDS.join(', ')}, got ${JSON.stringify(value)}`);
  return value as BackendFlag;
}

const KERNELS = ['auto', 'native', 'tfjs'] as const;
export type KernelFlag = (typeof KERNELS)[number];

/** `--kernel auto | native | tfjs` (default: the spec's kernel, else auto). */
export function kernelFlag(value: string | undefined): KernelFlag | undefined {
  if (value === undefined) return undefined;
  if (!(KERNELS as readonly string[]).includes(value)) throw new UsageError(`--kernel expects one of ${KERNELS.join(', ')}, got ${JSON.stringify(value)}`);
  return value as KernelFlag;
}

/** `--threads N` (BLAS threads of the native kernel), else UNROLL_BLAS_THREADS, else undefined (the run's default). */
export function threadsFlag(value: string | undefined, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (value !== undefined) return positiveInt('--threads', value);
  const v = env.UNROLL_BLAS_THREADS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`UNROLL_BLAS_THREADS expects a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** The one kernel line goes to stderr, so `--json` keeps stdout to the result. */
export const logToStderr = (line: string): void => void process.stderr.write(`${line}\n`);
