/**
 * Loading the native kernels, and what a window call looks like from TypeScript.
 *
 * The addon is optional: `loadNativeKernels()` returns either the kernels or the
 * reason they are absent (not built, OpenBLAS missing at load time, disabled), so
 * the caller can fall back to the tfjs path and say why, once.
 *
 * Threads: OpenBLAS runs its products on `threads` cores (openblas_set_num_threads).
 * The default is the cores this process may use; several workers on one machine
 * should each get their share (`threads` = cores / workers) so they do not
 * oversubscribe. The gate loops themselves run on the calling thread.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { BackwardArgs, ForwardArgs, NativeBinding } from './binding';

/** The cells the kernels implement, with their C-ABI codes (unroll_kernels.h). */
export const NATIVE_CELLS = { 'rnn-tanh': 0, 'rnn-relu': 1, lstm: 2, 'gru-reset-after': 3, 'gru-reset-before': 4 } as const;
export type NativeCell = keyof typeof NATIVE_CELLS;

export function gateBlocks(cell: NativeCell): number {
  return cell === 'lstm' ? 4 : cell.startsWith('gru') ? 3 : 1;
}

export interface NativeDims {
  T: number;
  B: number;
  H: number;
}

/** Inputs of a window's recurrence. c0 for LSTM only. */
export interface NativeForwardInputs {
  /** X·W_ihᵀ + b_ih, [T·B, G·H] */
  xProj: Float32Array;
  /** [G·H, H] */
  wHh: Float32Array;
  /** [G·H] */
  bHh: Float32Array;
  /** [B, H] */
  h0: Float32Array;
  c0?: Float32Array;
}

/** What forward writes and backward reads back. Allocate with `allocForward`. */
export interface NativeForwardOutputs {
  /** [T·B, H] */
  y: Float32Array;
  /** C_t per step, [T·B, H], LSTM only. */
  c?: Float32Array;
  /** Activations kept for backward (layout in csrc/unroll_kernels.cc). */
  saved?: Float32Array;
}

export interface NativeBackwardInputs {
  /** [T·B, H] */
  dY: Float32Array;
  /** [B, H] */
  dHT: Float32Array;
  dCT?: Float32Array;
}

export interface NativeBackwardOutputs {
  dXProj: Float32Array;
  dWHh: Float32Array;
  dBHh: Float32Array;
  dH0: Float32Array;
  dC0?: Float32Array;
  /** ‖∂L/∂h_t‖ for t = 0..T−1 */
  flow: Float64Array;
}

/** The native window kernels for one cell kind. */
export class NativeKernels {
  constructor(readonly binding: NativeBinding) {}

  /** OpenBLAS build and whether the gate loops run their AVX2 variant. */
  info(): { blas: string; avx2: boolean; threads: number } {
    return { ...this.binding.info(), threads: this.binding.getNumThreads() };
  }

  /** BLAS threads for every later product (process-wide). */
  setThreads(n: number): void {
    this.binding.setNumThreads(n);
  }

  /** The forward's outputs; `alloc` may hand out reused arrays (the kernel writes every value). */
  allocForward(cell: NativeCell, d: NativeDims, alloc: (length: number) => Float32Array = (n) => new Float32Array(n)): NativeForwardOutputs {
    const n = d.T * d.B * d.H;
    const saved = this.binding.savedLength(NATIVE_CELLS[cell], d.T, d.B, d.H);
    return { y: alloc(n), c: cell === 'lstm' ? alloc(n) : undefined, saved: saved ? alloc(saved) : undefined };
  }

  /** The backward's outputs; `allocWork` may hand out a reused array for dXProj (every value written), the rest are fresh. */
  allocBackward(cell: NativeCell, d: NativeDims, allocWork: (length: number) => Float32Array = (n) => new Float32Array(n)): NativeBackwardOutputs {
    const G = gateBlocks(cell);
    const bh = d.B * d.H;
    return {
      dXProj: allocWork(d.T * bh * G),
      dWHh: new Float32Array(G * d.H * d.H),
      dBHh: new Float32Array(G * d.H),
      dH0: new Float32Array(bh),
      dC0: cell === 'lstm' ? new Float32Array(bh) : undefined,
      flow: new Float64Array(d.T),
    };
  }

  forward(cell: NativeCell, d: NativeDims, x: NativeForwardInputs, out: NativeForwardOutputs): void {
    this.binding.windowForward(...forwardArgs(cell, d, x, out));
  }

  backward(cell: NativeCell, d: NativeDims, x: NativeForwardInputs, fwd: NativeForwardOutputs, g: NativeBackwardInputs, out: NativeBackwardOutputs): void {
    this.binding.windowBackward(...backwardArgs(cell, d, x, fwd, g, out));
  }

  /** forward on the libuv pool; do not touch any of the arrays until it settles. */
  forwardAsync(cell: NativeCell, d: NativeDims, x: NativeForwardInputs, out: NativeForwardOutputs): Promise<void> {
    return this.binding.windowForwardAsync(...forwardArgs(cell, d, x, out));
  }

  /** backward on the libuv pool; do not touch any of the arrays until it settles. */
  backwardAsync(cell: NativeCell, d: NativeDims, x: NativeForwardInputs, fwd: NativeForwardOutputs, g: NativeBackwardInputs, out: NativeBackwardOutputs): Promise<void> {
    return this.binding.windowBackwardAsync(...backwardArgs(cell, d, x, fwd, g, out));
  }
}

function forwardArgs(cell: NativeCell, d: NativeDims, x: NativeForwardInputs, out: NativeForwardOutputs): ForwardArgs {
  return [NATIVE_CELLS[cell], d.T, d.B, d.H, x.xProj, x.wHh, x.bHh, x.h0, x.c0 ?? null, out.y, out.c ?? null, out.saved ?? null];
}

function backwardArgs(cell: NativeCell, d: NativeDims, x: NativeForwardInputs, fwd: NativeForwardOutputs, g: NativeBackwardInputs, out: NativeBackwardOutputs): BackwardArgs {
  return [
    NATIVE_CELLS[cell], d.T, d.B, d.H,
    x.wHh, x.h0, x.c0 ?? null, fwd.y, fwd.c ?? null, fwd.saved ?? null,
    g.dY, g.dHT, g.dCT ?? null,
    out.dXProj, out.dWHh, out.dBHh, out.dH0, out.dC0 ?? null, out.flow,
  ];
}

export type NativeLoad = { ok: true; kernels: NativeKernels; detail: string } | { ok: false; reason: string };

/** Where the addon is built (node-gyp's Release output). UNROLL_NATIVE_ADDON overrides. */
export function addonPath(): string {
  return process.env.UNROLL_NATIVE_ADDON ?? path.join(__dirname, '..', 'build', 'Release', 'unroll_kernels.node');
}

/** Cores this process may use: the BLAS thread default. */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

let cached: NativeLoad | undefined;

/** The addon module (cached by require); sets OMP_WAIT_POLICY first, see {@link loadNativeKernels}. Throws when it cannot load. */
export function requireAddon(): NativeBinding {
  if (!process.env.OMP_WAIT_POLICY) process.env.OMP_WAIT_POLICY = 'PASSIVE';
  return require(addonPath()) as NativeBinding;
}

/**
 * Loads the addon once per process and sets its BLAS threads (default: the cores
 * available). Never throws: a missing or broken addon is a reason, not an error.
 *
 * Before the first load it sets OMP_WAIT_POLICY=PASSIVE unless the environment sets
 * it (libgomp reads it when the addon's OpenBLAS pulls libgomp in): by default idle
 * OpenMP threads spin, and beside node's own threads on a small machine they take
 * the cores the step needs — `unroll train` on 2 cores ran slower with 2 BLAS threads
 * than with 1 (bench/native/RESULTS.md, end-to-end table).
 */
export function loadNativeKernels(opts: { threads?: number } = {}): NativeLoad {
  if (!cached) {
    if (process.env.UNROLL_NATIVE === '0') {
      cached = { ok: false, reason: 'disabled by UNROLL_NATIVE=0' };
    } else {
      try {
        const kernels = new NativeKernels(requireAddon());
        kernels.setThreads(availableCores());
        const i = kernels.info();
        cached = { ok: true, kernels, detail: `${i.blas.split(' ').slice(0, 2).join(' ')}, ${i.avx2 ? 'AVX2' : 'baseline'} gate loops` };
      } catch (e) {
        const first = (e instanceof Error ? e.message : String(e)).split('\n')[0];
        const notBuilt = /Cannot find module/.test(first);
        cached = { ok: false, reason: notBuilt ? 'addon not built (apt-get install libopenblas-openmp-dev g++ make && npm run build:native)' : `addon failed to load: ${first}` };
      }
    }
  }
  if (cached.ok && opts.threads !== undefined) cached.kernels.setThreads(opts.threads);
  return cached;
}
