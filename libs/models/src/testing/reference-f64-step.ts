/**
 * The pieces every float64 reference cell is built from: the per-step contract
 * the window driver (reference-f64.ts) runs, and the affine map with its
 * backward, written as plain loops.
 */
import { RefParams } from './ref-cell';

/** What a step needs besides its inputs. */
export interface StepContext {
  p: RefParams;
  B: number;
  I: number;
  H: number;
}

/** Parameter-gradient accumulators, same layout as RefParams; steps add into them. */
export interface RefParamGrads {
  dWIh: Float64Array;
  dWHh: Float64Array;
  dBIh: Float64Array;
  dBHh: Float64Array;
  /** Peephole lstm only. */
  dWCh?: Float64Array;
}

/** Gradients flowing out of a step into the previous state. */
export interface StepStateGrads {
  dH: Float64Array;
  dC?: Float64Array;
}

/** The result of one forward step, holding what its backward needs. */
export interface StepResult {
  /** h_t [B, H] */
  h: Float64Array;
  /** c_t [B, H], lstm only */
  c?: Float64Array;
  /**
   * Given the total gradients dL/dh_t and dL/dc_t, adds dL/dx_t into `dX` [B, I]
   * and dL/dparams into `grads`, and returns dL/dh_{t-1} (and dL/dc_{t-1}).
   */
  backward(dH: Float64Array, dC: Float64Array | undefined, dX: Float64Array, grads: RefParamGrads): StepStateGrads;
}

/** One forward step: x_t [B, I], h_{t-1} [B, H], c_{t-1} [B, H] (lstm only). */
export type StepF64 = (ctx: StepContext, x: Float64Array, h: Float64Array, c: Float64Array | undefined) => StepResult;

/** Row `b` of a row-major [rows, n] array, as a view. */
export function row(a: Float64Array, b: number, n: number): Float64Array {
  return a.subarray(b * n, (b + 1) * n);
}

export function sigmoid(a: number): number {
  return 1 / (1 + Math.exp(-a));
}

/**
 * out[j − from] = bias[j] + Σ_k w[j, k]·v[k] for the weight rows j in [from, to);
 * w is [rows, v.length] row-major.
 */
export function affine(w: Float64Array, bias: Float64Array, v: Float64Array, from: number, to: number): Float64Array {
  const n = v.length;
  const out = new Float64Array(to - from);
  for (let j = from; j < to; j++) {
    let s = bias[j];
    for (let k = 0; k < n; k++) s += w[j * n + k] * v[k];
    out[j - from] = s;
  }
  return out;
}

/**
 * Backward of `affine` for rows [from, to), given dOut = dL/dout (length to − from):
 * adds dL/dw into dW, dL/dbias into dBias and dL/dv into dV.
 */
export function affineBackward(
  w: Float64Array,
  v: Float64Array,
  from: number,
  to: number,
  dOut: Float64Array,
  dW: Float64Array,
  dBias: Float64Array,
  dV: Float64Array,
): void {
  const n = v.length;
  for (let j = from; j < to; j++) {
    const g = dOut[j - from];
    dBias[j] += g;
    for (let k = 0; k < n; k++) {
      dW[j * n + k] += g * v[k];
      dV[k] += g * w[j * n + k];
    }
  }
}
