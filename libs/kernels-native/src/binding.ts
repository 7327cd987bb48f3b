/**
 * The Node-API addon's surface (csrc/addon.cc), exactly as it is called. Every
 * array is checked there for its type and exact length before a kernel runs.
 * Argument order follows csrc/unroll_kernels.h.
 */
export interface NativeBinding {
  sgemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number): void;
  windowForward(...args: ForwardArgs): void;
  windowBackward(...args: BackwardArgs): void;
  windowForwardAsync(...args: ForwardArgs): Promise<void>;
  windowBackwardAsync(...args: BackwardArgs): Promise<void>;
  /** Head + softmax cross-entropy; returns the loss SUM, writes the gradients of gradScale·L. */
  linearXent(N: number, H: number, V: number, h: Float32Array, w: Float32Array, b: Float32Array, targets: Int32Array, gradScale: number, logits: Float32Array, dh: Float32Array, dw: Float32Array, db: Float32Array): number;
  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void;
  /** Adam with the arithmetic of libs/bptt's Adam, bit for bit (float64 operations, float32 stores); stepSize = lr / (1 − β1ᵗ), sqrtBc2 = √(1 − β2ᵗ). */
  adamExact(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, stepSize: number, sqrtBc2: number, beta1: number, beta2: number, eps: number, weightDecay: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  savedLength(cell: number, T: number, B: number, H: number): number;
  info(): { blas: string; avx2: boolean };
  /** mallopt(M_MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD); which calls glibc accepted (csrc/allocator.cc). */
  tuneMalloc(mmapThreshold: number, trimThreshold: number): { glibc: boolean; mmap: boolean; trim: boolean };
  /** Whether a malloc of `bytes` is served by its own mmap now; null where that cannot be told. */
  mallocIsMapped(bytes: number): boolean | null;
}

type F32 = Float32Array;
type OptF32 = Float32Array | null;

/** cell, T, B, H, xProj, wHh, bHh, h0, c0, y, c, saved */
export type ForwardArgs = [number, number, number, number, F32, F32, F32, F32, OptF32, F32, OptF32, OptF32];
/** cell, T, B, H, wHh, h0, c0, y, c, saved, dY, dHT, dCT, dXProj, dWHh, dBHh, dH0, dC0, flow */
export type BackwardArgs = [number, number, number, number, F32, F32, OptF32, F32, OptF32, OptF32, F32, F32, OptF32, F32, F32, F32, F32, OptF32, Float64Array];
