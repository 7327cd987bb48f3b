/**
 * Vanilla (Elman) RNN cell, the lecture's first model:
 *
 *   s_t = f(U·x_t + W·s_{t−1} + b)          f = tanh or ReLU
 *
 * in PyTorch's names: h_t = f(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh).
 *
 * BPTT: with δ_t = ∂L/∂h_t (from the output at t plus the recurrence from t+1),
 *   ∂L/∂pre_t = δ_t ⊙ f′(pre_t),  f′ = 1 − h_t² (tanh) or [h_t > 0] (ReLU)
 *   δ_{t−1} += ∂L/∂pre_t · W_hh
 *   ∂L/∂W_hh = Σ_t ∂L/∂pre_tᵀ · h_{t−1}   (one product over the window)
 */
import type { Gemm } from '../gemm';
import { columnSums, norm, type BackwardResult, type CellKernel, type ForwardResult, type RecurrentWeights, type WindowDims } from './cell-kernel';

interface RnnSaved {
  /** h_{t−1} for every step, [T·B, H] (h0 first). */
  hPrev: Float32Array;
  y: Float32Array;
}

export class RnnCell implements CellKernel {
  constructor(private readonly activation: 'tanh' | 'relu') {}

  forward(gemm: Gemm, d: WindowDims, w: RecurrentWeights, xProj: Float32Array, h0: Float32Array, _c0: Float32Array | undefined, carryAt: number): ForwardResult {
    const { T, B, H } = d;
    const n = B * H;
    const whhT = gemm.matrix(w.wHh, H, H, true);
    const y = new Float32Array(T * n);
    const hPrev = new Float32Array(T * n);
    let h = h0;
    const relu = this.activation === 'relu';
    try {
      for (let t = 0; t < T; t++) {
        hPrev.set(h, t * n);
        const hp = gemm.mul(h, B, whhT);
        const off = t * n;
        for (let b = 0; b < B; b++) {
          for (let j = 0; j < H; j++) {
            const k = b * H + j;
            const pre = xProj[off + k] + hp[k] + w.bHh[j];
            y[off + k] = relu ? (pre > 0 ? pre : 0) : Math.tanh(pre);
          }
        }
        h = y.subarray(off, off + n);
      }
    } finally {
      gemm.release(whhT);
    }
    const hT = y.slice((T - 1) * n, T * n);
    const hCarry = y.slice(carryAt * n, (carryAt + 1) * n);
    return { y, hT, hCarry, saved: { hPrev, y } satisfies RnnSaved };
  }

  backward(gemm: Gemm, d: WindowDims, w: RecurrentWeights, saved: unknown, dY: Float32Array, dHT: Float32Array): BackwardResult {
    const { T, B, H } = d;
    const { hPrev, y } = saved as RnnSaved;
    const n = B * H;
    const whh = gemm.matrix(w.wHh, H, H);
    const dPre = new Float32Array(T * n);
    const flow = new Float64Array(T);
    const relu = this.activation === 'relu';
    let dhNext: Float32Array = dHT;
    const delta = new Float32Array(n);
    try {
      for (let t = T - 1; t >= 0; t--) {
        const off = t * n;
        for (let k = 0; k < n; k++) delta[k] = dY[off + k] + dhNext[k];
        flow[t] = norm(delta);
        for (let k = 0; k < n; k++) {
          const h = y[off + k];
          dPre[off + k] = delta[k] * (relu ? (h > 0 ? 1 : 0) : 1 - h * h);
        }
        dhNext = gemm.mul(dPre.subarray(off, off + n), B, whh);
      }
    } finally {
      gemm.release(whh);
    }
    return {
      dXProj: dPre,
      dWHh: gemm.mulTN(dPre, T * B, H, hPrev, H),
      dBHh: columnSums(dPre, T * B, H),
      dH0: dhNext,
      flow,
    };
  }
}
