/**
 * GRU cell, gates in PyTorch's order r, z, n, in two forms:
 *
 *   r_t = σ(W_ir·x_t + b_ir + W_hr·h_{t−1} + b_hr)
 *   z_t = σ(W_iz·x_t + b_iz + W_hz·h_{t−1} + b_hz)
 *   reset-after  (cuDNN, PyTorch):  n_t = tanh(W_in·x_t + b_in + r_t ⊙ (W_hn·h_{t−1} + b_hn))
 *   reset-before (the lecture, Cho et al. 2014):  n_t = tanh(W_in·x_t + b_in + W_hn·(r_t ⊙ h_{t−1}) + b_hn)
 *   h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}
 *
 * The lecture writes h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t: its z is our 1 − z. We keep
 * PyTorch's convention for both forms so one weight layout serves both.
 *
 * BPTT, with δh = ∂L/∂h_t:
 *   δn = δh ⊙ (1 − z),  δz = δh ⊙ (h_{t−1} − n),  δh_{t−1} = δh ⊙ z + …
 *   δpre_n = δn ⊙ (1 − n²)
 *   reset-after:  ∂L/∂(W_hn·h + b_hn) = δpre_n ⊙ r,   δr = δpre_n ⊙ (W_hn·h + b_hn)
 *   reset-before: δ(r⊙h) = δpre_n · W_hn,  δr = δ(r⊙h) ⊙ h_{t−1},  δh_{t−1} += δ(r⊙h) ⊙ r
 *   δpre_r = δr ⊙ r(1−r),  δpre_z = δz ⊙ z(1−z),  δh_{t−1} += [δpre_r, δpre_z, (δpre_n)] · W_hh
 */
import type { Gemm } from '../gemm';
import { columnSums, norm, sigmoid, type BackwardResult, type CellKernel, type ForwardResult, type RecurrentWeights, type WindowDims } from './cell-kernel';

interface GruSaved {
  /** r, z, n per step, [T·B, 3H]. */
  gates: Float32Array;
  /** reset-after: W_hn·h_{t−1} + b_hn; reset-before: r ⊙ h_{t−1}. [T·B, H]. */
  aux: Float32Array;
  hPrev: Float32Array;
}

export class GruCell implements CellKernel {
  constructor(private readonly variant: 'reset-after' | 'reset-before') {}

  forward(gemm: Gemm, d: WindowDims, w: RecurrentWeights, xProj: Float32Array, h0: Float32Array, _c0: Float32Array | undefined, carryAt: number): ForwardResult {
    const { T, B, H } = d;
    const n = B * H;
    const G = 3 * H;
    const after = this.variant === 'reset-after';
    // reset-after: one product h·W_hhᵀ for all three blocks. reset-before: h·W_h[rz]ᵀ,
    // then (r⊙h)·W_hnᵀ once r is known.
    const whhT = after ? gemm.matrix(w.wHh, G, H, true) : gemm.matrix(w.wHh.subarray(0, 2 * H * H), 2 * H, H, true);
    const whnT = after ? undefined : gemm.matrix(w.wHh.subarray(2 * H * H), H, H, true);
    const y = new Float32Array(T * n);
    const gates = new Float32Array(T * B * G);
    const aux = new Float32Array(T * n);
    const hPrev = new Float32Array(T * n);
    const hcols = after ? G : 2 * H;
    let h = h0;
    try {
      for (let t = 0; t < T; t++) {
        hPrev.set(h, t * n);
        const hp = gemm.mul(h, B, whhT);
        for (let b = 0; b < B; b++) {
          const row = (t * B + b) * G;
          const hrow = b * hcols;
          for (let j = 0; j < H; j++) {
            const r = sigmoid(xProj[row + j] + hp[hrow + j] + w.bHh[j]);
            const z = sigmoid(xProj[row + H + j] + hp[hrow + H + j] + w.bHh[H + j]);
            gates[row + j] = r;
            gates[row + H + j] = z;
            aux[t * n + b * H + j] = after ? hp[hrow + 2 * H + j] + w.bHh[2 * H + j] : r * h[b * H + j];
          }
        }
        const hn = after ? undefined : gemm.mul(aux.subarray(t * n, (t + 1) * n), B, whnT as NonNullable<typeof whnT>);
        for (let b = 0; b < B; b++) {
          const row = (t * B + b) * G;
          for (let j = 0; j < H; j++) {
            const k = b * H + j;
            const r = gates[row + j];
            const z = gates[row + H + j];
            const pre = after ? xProj[row + 2 * H + j] + r * aux[t * n + k] : xProj[row + 2 * H + j] + (hn as Float32Array)[k] + w.bHh[2 * H + j];
            const nn = Math.tanh(pre);
            gates[row + 2 * H + j] = nn;
            y[t * n + k] = (1 - z) * nn + z * h[k];
          }
        }
        h = y.subarray(t * n, (t + 1) * n);
      }
    } finally {
      gemm.release(whhT);
      if (whnT) gemm.release(whnT);
    }
    return {
      y,
      hT: y.slice((T - 1) * n),
      hCarry: y.slice(carryAt * n, (carryAt + 1) * n),
      saved: { gates, aux, hPrev } satisfies GruSaved,
    };
  }

  backward(gemm: Gemm, d: WindowDims, w: RecurrentWeights, saved: unknown, dY: Float32Array, dHT: Float32Array): BackwardResult {
    const { T, B, H } = d;
    const { gates, aux, hPrev } = saved as GruSaved;
    const n = B * H;
    const G = 3 * H;
    const after = this.variant === 'reset-after';
    const dX = new Float32Array(T * B * G);
    // Gradient w.r.t. the recurrent products: [δpre_r, δpre_z, δ(hn)] for reset-after
    // (one block of 3H), or [δpre_r, δpre_z] and δpre_n separately for reset-before.
    const dHrz = after ? new Float32Array(T * B * G) : new Float32Array(T * B * 2 * H);
    const dHn = after ? undefined : new Float32Array(T * n);
    const whh = after ? gemm.matrix(w.wHh, G, H) : gemm.matrix(w.wHh.subarray(0, 2 * H * H), 2 * H, H);
    const whn = after ? undefined : gemm.matrix(w.wHh.subarray(2 * H * H), H, H);
    const flow = new Float64Array(T);
    const dh = new Float32Array(n);
    const dPreN = new Float32Array(n);
    let dhNext: Float32Array = dHT;
    try {
      for (let t = T - 1; t >= 0; t--) {
        const off = t * n;
        for (let k = 0; k < n; k++) dh[k] = dY[off + k] + dhNext[k];
        flow[t] = norm(dh);
        // δpre_n first: reset-before needs δ(r⊙h) = δpre_n·W_hn before δr.
        for (let b = 0; b < B; b++) {
          const row = (t * B + b) * G;
          for (let j = 0; j < H; j++) {
            const k = b * H + j;
            const z = gates[row + H + j];
            const nn = gates[row + 2 * H + j];
            dPreN[k] = dh[k] * (1 - z) * (1 - nn * nn);
          }
        }
        const dRh = after ? undefined : gemm.mul(dPreN, B, whn as NonNullable<typeof whn>);
        const dhPrevDirect = new Float32Array(n);
        const hrzCols = after ? G : 2 * H;
        for (let b = 0; b < B; b++) {
          const row = (t * B + b) * G;
          const hrow = (t * B + b) * hrzCols;
          for (let j = 0; j < H; j++) {
            const k = b * H + j;
            const r = gates[row + j];
            const z = gates[row + H + j];
            const nn = gates[row + 2 * H + j];
            const hp = hPrev[off + k];
            const dz = dh[k] * (hp - nn);
            const dr = after ? dPreN[k] * aux[off + k] : (dRh as Float32Array)[k] * hp;
            const dPreR = dr * r * (1 - r);
            const dPreZ = dz * z * (1 - z);
            dX[row + j] = dPreR;
            dX[row + H + j] = dPreZ;
            dX[row + 2 * H + j] = dPreN[k];
            dHrz[hrow + j] = dPreR;
            dHrz[hrow + H + j] = dPreZ;
            if (after) dHrz[hrow + 2 * H + j] = dPreN[k] * r;
            else (dHn as Float32Array)[off + k] = dPreN[k];
            dhPrevDirect[k] = dh[k] * z + (after ? 0 : (dRh as Float32Array)[k] * r);
          }
        }
        const viaW = gemm.mul(dHrz.subarray(t * B * hrzCols, (t + 1) * B * hrzCols), B, whh);
        for (let k = 0; k < n; k++) dhPrevDirect[k] += viaW[k];
        dhNext = dhPrevDirect;
      }
    } finally {
      gemm.release(whh);
      if (whn) gemm.release(whn);
    }
    let dWHh: Float32Array;
    let dBHh: Float32Array;
    if (after) {
      dWHh = gemm.mulTN(dHrz, T * B, G, hPrev, H);
      dBHh = columnSums(dHrz, T * B, G);
    } else {
      dWHh = new Float32Array(G * H);
      dWHh.set(gemm.mulTN(dHrz, T * B, 2 * H, hPrev, H), 0);
      dWHh.set(gemm.mulTN(dHn as Float32Array, T * B, H, aux, H), 2 * H * H);
      dBHh = new Float32Array(G);
      dBHh.set(columnSums(dHrz, T * B, 2 * H), 0);
      dBHh.set(columnSums(dHn as Float32Array, T * B, H), 2 * H);
    }
    return { dXProj: dX, dWHh, dBHh, dH0: dhNext, flow };
  }
}
