/**
 * glibc's malloc thresholds, raised at run time for processes that move large
 * messages (the gRPC ring: bench/allreduce/RESULTS.md).
 *
 * grpc-js allocates a fresh ~1 MiB buffer for every message it frames and every
 * message it reassembles. Above M_MMAP_THRESHOLD (128 KiB at start, then raised
 * dynamically by glibc up to the largest block freed) glibc maps such a block on
 * its own and unmaps it on free, so every message pays page faults and an munmap;
 * and memory freed at the top of the heap beyond M_TRIM_THRESHOLD goes back to
 * the kernel, to be faulted in again. Raising both keeps freed megabytes in the
 * heap for the next message. Setting M_MMAP_THRESHOLD also turns glibc's dynamic
 * adjustment off, as the MALLOC_MMAP_THRESHOLD_ variable does.
 *
 * The environment variables MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ do
 * the same but only at process start; when either is set, the environment wins
 * and nothing is changed. Not glibc (musl, macOS) or no addon: nothing changes,
 * and the result says why.
 */
import { requireAddon } from './native-kernels';

export interface AllocatorTuningOptions {
  /**
   * Blocks at least this large get their own mmap.
   * @defaultValue 64 MiB — above every message and chunk of the ring (≈ 1 MiB), so
   * those come from the heap; model-sized tensors beyond it still get their own mapping.
   */
  mmapThresholdBytes?: number;
  /**
   * Free memory at the top of the heap kept before it is returned to the kernel.
   * @defaultValue 256 MiB — a few hundred in-flight messages' worth; the process
   * keeps at most this much memory it is not using.
   */
  trimThresholdBytes?: number;
}

export interface AllocatorTuning {
  /** True when both thresholds were set by this call. */
  applied: boolean;
  /** What was done, or why nothing was, in one line for a log. */
  detail: string;
}

export const ALLOCATOR_TUNING_DEFAULTS = Object.freeze({ mmapThresholdBytes: 64 * 1024 * 1024, trimThresholdBytes: 256 * 1024 * 1024 });

const ENV_VARIABLES = ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_'] as const;

/**
 * Raises glibc's mmap and trim thresholds for this process (see the module
 * comment). Call once, early; never throws except on invalid options.
 */
export function tuneAllocator(options: AllocatorTuningOptions = {}): AllocatorTuning {
  const mmap = options.mmapThresholdBytes ?? ALLOCATOR_TUNING_DEFAULTS.mmapThresholdBytes;
  const trim = options.trimThresholdBytes ?? ALLOCATOR_TUNING_DEFAULTS.trimThresholdBytes;
  for (const [field, v] of [
    ['mmapThresholdBytes', mmap],
    ['trimThresholdBytes', trim],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0 || v > 2 ** 31 - 1) throw new RangeError(`tuneAllocator ${field} must be an integer in 1..2^31-1, got ${String(v)}`);
  }
  const fromEnv = ENV_VARIABLES.filter((name) => process.env[name] !== undefined);
  if (fromEnv.length) return { applied: false, detail: `left to the environment (${fromEnv.map((n) => `${n}=${process.env[n]}`).join(', ')})` };
  if (process.env.UNROLL_NATIVE === '0') return { applied: false, detail: 'native addon disabled by UNROLL_NATIVE=0' };
  let result: { glibc: boolean; mmap: boolean; trim: boolean };
  try {
    result = requireAddon().tuneMalloc(mmap, trim);
  } catch (e) {
    return { applied: false, detail: `native addon unavailable: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` };
  }
  if (!result.glibc) return { applied: false, detail: 'not glibc: allocator left as it is' };
  if (!result.mmap || !result.trim) {
    return { applied: false, detail: `glibc refused ${[!result.mmap && `M_MMAP_THRESHOLD=${mmap}`, !result.trim && `M_TRIM_THRESHOLD=${trim}`].filter(Boolean).join(' and ')}` };
  }
  return { applied: true, detail: `glibc M_MMAP_THRESHOLD=${mmap}, M_TRIM_THRESHOLD=${trim}` };
}

/**
 * Whether a malloc of `bytes` gets its own mmap right now (glibc ≥ 2.33; null
 * elsewhere or without the addon). For tests and diagnostics.
 */
export function mallocIsMapped(bytes: number): boolean | null {
  try {
    return requireAddon().mallocIsMapped(bytes);
  } catch {
    return null;
  }
}
