/**
 * The contract between the fused window op and one cell's arithmetic.
 *
 * The window op projects the whole window's input at once (xProj = X·W_ihᵀ + b_ih,
 * one large product) and hands the cell a Gemm for the recurrent products. The cell
 * runs the time loop forward, keeps what its backward needs, and in backward runs
 * the loop in reverse (BPTT), returning the gradient with respect to xProj (from
 * which the window op gets dX, dW_ih and db_ih in three large products) and its own
 * recurrent weight gradients, computed over all timesteps in one product each.
 *
 * Layout: time-major. Row t·B + b of a [T·B, n] array is stream b at step t.
 */
import type { Gemm } from '../gemm';

export interface WindowDims {
  T: number;
  B: number;
  H: number;
}

export interface RecurrentWeights {
  /** W_hh, [G·H, H] row-major (PyTorch's weight_hh_l{k}). */
  wHh: Float32Array;
  /** b_hh, [G·H]. */
  bHh: Float32Array;
  /** W_ch, [P·H, H]: the peephole LSTM's C_{t−1} columns (lstm-variant-cell.ts); absent otherwise. */
  wCh?: Float32Array;
}

export interface ForwardResult {
  /** Hidden state of every step, [T, B, H]. */
  y: Float32Array;
  /** h and c after the last step, [B, H]. */
  hT: Float32Array;
  cT?: Float32Array;
  /** h and c after step `carryAt` (0-based): the state the next TBPTT window starts from. */
  hCarry: Float32Array;
  cCarry?: Float32Array;
  /** Opaque activations kept for backward. */
  saved: unknown;
}

export interface BackwardResult {
  /** ∂L/∂xProj, [T·B, G·H]. */
  dXProj: Float32Array;
  dWHh: Float32Array;
  dBHh: Float32Array;
  /** ∂L/∂W_ch, peephole LSTM only. */
  dWCh?: Float32Array;
  dH0: Float32Array;
  dC0?: Float32Array;
  /** ‖∂L/∂h_t‖ (Frobenius over the batch) for t = 0..T−1: the gradient flow across time. */
  flow: Float64Array;
}

export interface CellKernel {
  forward(
    gemm: Gemm,
    dims: WindowDims,
    w: RecurrentWeights,
    xProj: Float32Array,
    h0: Float32Array,
    c0: Float32Array | undefined,
    carryAt: number,
  ): ForwardResult;
  backward(
    gemm: Gemm,
    dims: WindowDims,
    w: RecurrentWeights,
    saved: unknown,
    dY: Float32Array,
    dHT: Float32Array,
    dCT: Float32Array | undefined,
  ): BackwardResult;
  /**
   * The window is done with `saved` and with `back` (its dXProj — the weight
   * gradients dWHh, dBHh, dH0, dC0 may live on in tensors): a kernel may reuse the
   * work arrays for the next window. Optional; never called for a window whose
   * backward did not run.
   */
  release?(saved: unknown, back: BackwardResult): void;
}

export function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** Column sums of a [rows, cols] array: a bias gradient. */
export function columnSums(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let j = 0; j < cols; j++) out[j] += a[base + j];
  }
  return Float32Array.from(out);
}

/** Frobenius norm of a vector. */
export function norm(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}
