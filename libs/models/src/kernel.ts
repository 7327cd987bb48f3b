/**
 * Which implementation runs the fused window ops: Unroll's native kernels
 * (C++ on OpenBLAS, libs/kernels-native) or the tfjs path (TypeScript gate
 * loops, products on the active tfjs backend).
 *
 *   'auto'   native when the addon loads, else tfjs (the reason is logged once)
 *   'native' native, or a KernelUnavailableError saying why not
 *   'tfjs'   always the tfjs path
 *
 * The native kernel computes in float32 on the CPU whatever the tfjs backend;
 * its results agree with the tfjs path to float32 rounding (native-kernel.spec.ts).
 */
import { availableCores, loadNativeKernels, type NativeKernels } from '@unroll/kernels-native';
import { cellKernel, isLstmVariant, type CellConfig, type CellKernel } from './cells';
import { NativeCellKernel } from './cells/native-cell';
import { TfGemm, type Gemm } from './gemm';
import { NativeGemm } from './native-gemm';

export type KernelChoice = 'auto' | 'native' | 'tfjs';

/** The window ops' implementation: its products and its per-cell arithmetic. */
export interface WindowKernel {
  readonly name: 'native' | 'tfjs';
  /** Why this kernel: shown once in the log and by `unroll doctor`. */
  readonly reason: string;
  readonly gemm: Gemm;
  cell(cell: CellConfig): CellKernel;
  /**
   * Whether the input projection X·W_ihᵀ and its gradients go through `gemm` too
   * (native: all products in BLAS) or through tfjs ops (the tfjs path).
   */
  readonly projectWithGemm: boolean;
}

export class KernelUnavailableError extends Error {
  constructor(reason: string) {
    super(`native kernel is not available: ${reason}`);
    this.name = 'KernelUnavailableError';
  }
}

export class TfjsKernel implements WindowKernel {
  readonly name = 'tfjs';
  readonly gemm: Gemm = new TfGemm();
  readonly projectWithGemm = false;
  constructor(readonly reason: string) {}
  cell(cell: CellConfig): CellKernel {
    return cellKernel(cell);
  }
}

export class NativeKernel implements WindowKernel {
  readonly name = 'native';
  readonly gemm: Gemm;
  readonly projectWithGemm = true;
  constructor(
    readonly kernels: NativeKernels,
    readonly reason: string,
  ) {
    this.gemm = new NativeGemm(kernels);
  }
  /**
   * The native window for the plain cells. The LSTM variants (peepholes, coupled
   * gates) have no native kernel yet: they run the TypeScript gate loop of
   * lstm-variant-cell.ts with this kernel's BLAS products.
   */
  cell(cell: CellConfig): CellKernel {
    if (isLstmVariant(cell)) return cellKernel(cell);
    return new NativeCellKernel(this.kernels, cell);
  }
}

export interface KernelOptions {
  /** @defaultValue 'auto' */
  kernel?: KernelChoice;
  /** BLAS threads for the native kernel. @defaultValue the cores this process may use */
  threads?: number;
  /** Where the one-time line goes. @defaultValue console.log */
  log?: (line: string) => void;
}

let announced = false;

/** Chooses the window kernel; logs once per process which one is in use and why. */
export function selectKernel(opts: KernelOptions = {}): WindowKernel {
  const choice = opts.kernel ?? 'auto';
  let kernel: WindowKernel;
  if (choice === 'tfjs') {
    kernel = new TfjsKernel("kernel: 'tfjs' requested");
  } else {
    const load = loadNativeKernels({ threads: opts.threads });
    if (load.ok) {
      const threads = load.kernels.info().threads;
      kernel = new NativeKernel(load.kernels, `${choice === 'native' ? "kernel: 'native' requested" : 'auto: native addon loaded'} (${load.detail}, ${threads} BLAS thread${threads === 1 ? '' : 's'})`);
    } else if (choice === 'native') {
      throw new KernelUnavailableError(load.reason);
    } else {
      kernel = new TfjsKernel(`auto: native kernel unavailable: ${load.reason}`);
    }
  }
  if (!announced) {
    announced = true;
    (opts.log ?? console.log)(`unroll: window kernel ${kernel.name} — ${kernel.reason}`);
  }
  return kernel;
}

export { availableCores };

/** The native kernel as `unroll doctor` reports it, without selecting anything. */
export type NativeKernelStatus = { loaded: true; blas: string; avx2: boolean; threads: number } | { loaded: false; reason: string };

export function nativeKernelStatus(opts: { threads?: number } = {}): NativeKernelStatus {
  const load = loadNativeKernels({ threads: opts.threads });
  if (!load.ok) return { loaded: false, reason: load.reason };
  const i = load.kernels.info();
  return { loaded: true, blas: i.blas, avx2: i.avx2, threads: i.threads };
}
