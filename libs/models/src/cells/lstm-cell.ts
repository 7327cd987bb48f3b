/**
 * LSTM cell (Hochreiter & Schmidhuber; the lecture's summary), gates in PyTorch's
 * order i, f, g, o:
 *
 *   i_t = σ(W_i·[h_{t−1}, x_t] + b_i)
 *   f_t = σ(W_f·[h_{t−1}, x_t] + b_f)
 *   g_t = tanh(W_C·[h_{t−1}, x_t] + b_C)        (the lecture's C̃_t)
 *   o_t = σ(W_o·[h_{t−1}, x_t] + b_o)
 *   C_t = f_t ⊙ C_{t−1} + i_t ⊙ g_t
 *   h_t = o_t ⊙ tanh(C_t)
 *
 * BPTT, with δh_t = ∂L/∂h_t and δC_t = ∂L/∂C_t (from step t+1):
 *   δo = δh ⊙ tanh(C_t)
 *   δC = δC_t + δh ⊙ o ⊙ (1 − tanh²(C_t))
 *   δi = δC ⊙ g,  δg = δC ⊙ i,  δf = δC ⊙ C_{t−1},  δC_{t−1} = δC ⊙ f
 *   pre-activation gradients: δi·i(1−i), δf·f(1−f), δg·(1−g²), δo·o(1−o)
 *   δh_{t−1} = ∂L/∂pre_t · W_hh
 * The forget gate passes δC back multiplied by f alone: the lecture's reason the
 * LSTM's gradient neither vanishes nor explodes while f ≈ 1.
 */
import type { Gemm } from '../gemm';
import { columnSums, norm, sigmoid, type BackwardResult, type CellKernel, type ForwardResult, type RecurrentWeights, type WindowDims } from './cell-kernel';

interface LstmSaved {
  /** Post-activation gates per step, [T·B, 4H] in i,f,g,o blocks. */
  gates: Float32Array;
  /** C_t per step, [T·B, H]; C_{t−1} for step 0 is c0. */
  c: Float32Array;
  c0: Float32Array;
  hPrev: Float32Array;
}

export class LstmCell implements CellKernel {
  forward(gemm: Gemm, d: WindowDims, w: RecurrentWeights, xProj: Float32Array, h0: Float32Array, c0: Float32Array | undefined, carryAt: number): ForwardResult {
    const { T, B, H } = d;
    const n = B * H;
    const G = 4 * H;
    if (!c0) throw new Error('LSTM window expects an initial cell state c0');
    const whhT = gemm.matrix(w.wHh, G, H, true);
    const y = new Float32Array(T * n);
    const c = new Float32Array(T * n);
    const gates = new Float32Array(T * B * G);
    const hPrev = new Float32Array(T * n);
    let h = h0;
    let cPrev = c0;
    try {
      for (let t = 0; t < T; t++) {
        hPrev.set(h, t * n);
        const hp = gemm.mul(h, B, whhT);
        for (let b = 0; b < B; b++) {
          const row = (t * B + b) * G;
          const hrow = b * G;
          const sOff = t * n + b * H;
          for (let j = 0; j < H; j++) {
            const i = sigmoid(xProj[row + j] + hp[hrow + j] + w.bHh[j]);
            const f = sigmoid(xProj[row + H + j] + hp[hrow + H + j] + w.bHh[H + j]);
            const g = Math.tanh(xProj[row + 2 * H + j] + hp[hrow + 2 * H + j] + w.bHh[2 * H + j]);
            const o = sigmoid(xProj[row + 3 * H + j] + hp[hrow + 3 * H + j] + w.bHh[3 * H + j]);
            const ct = f * cPrev[b * H + j] + i * g;
            gates[row + j] = i;
            gates[row + H + j] = f;
            gates[row + 2 * H + j] = g;
            gates[row + 3 * H + j] = o;
            c[sOff + j] = ct;
            y[sOff + j] = o * Math.tanh(ct);
          }
        }
        h = y.subarray(t * n, (t + 1) * n);
        cPrev = c.subarray(t * n, (t + 1) * n);
      }
    } finally {
      gemm.release(whhT);
    }
    return {
      y,
      hT: y.slice((T - 1) * n),
      cT: c.slice((T - 1) * n),
      hCarry: y.slice(carryAt * n, (carryAt + 1) * n),
      cCarry: c.slice(carryAt * n, (carryAt + 1) * n),
      saved: { gates, c, c0, hPrev } satisfies LstmSaved,
    };
  }

  backward(gemm: Gemm, d: WindowDims, w: RecurrentWeights, saved: unknown, dY: Float32Array, dHT: Float32Array, dCT: Float32Array | undefined): BackwardResult {
    const { T, B, H } = d;
    const { gates, c, c0, hPrev } = saved as LstmSaved;
    const n = B * H;
    const G = 4 * H;
    const whh = gemm.matrix(w.wHh, G, H);
    const dPre = new Float32Array(T * B * G);
    const flow = new Float64Array(T);
    const dh = new Float32Array(n);
    let dhNext: Float32Array = dHT;
    const dC = dCT ? Float32Array.from(dCT) : new Float32Array(n);
    try {
      for (let t = T - 1; t >= 0; t--) {
        const off = t * n;
        for (let k = 0; k < n; k++) dh[k] = dY[off + k] + dhNext[k];
        flow[t] = norm(dh);
        const cPrev = t === 0 ? c0 : c.subarray(off - n, off);
        for (let b = 0; b < B; b++) {
          const row = (t * B + b) * G;
          for (let j = 0; j < H; j++) {
            const k = b * H + j;
            const i = gates[row + j];
            const f = gates[row + H + j];
            const g = gates[row + 2 * H + j];
            const o = gates[row + 3 * H + j];
            const tc = Math.tanh(c[off + k]);
            const dOut = dh[k];
            const dc = dC[k] + dOut * o * (1 - tc * tc);
            dPre[row + j] = dc * g * i * (1 - i);
            dPre[row + H + j] = dc * cPrev[k] * f * (1 - f);
            dPre[row + 2 * H + j] = dc * i * (1 - g * g);
            dPre[row + 3 * H + j] = dOut * tc * o * (1 - o);
            dC[k] = dc * f;
          }
        }
        dhNext = gemm.mul(dPre.subarray(t * B * G, (t + 1) * B * G), B, whh);
      }
    } finally {
      gemm.release(whh);
    }
    return {
      dXProj: dPre,
      dWHh: gemm.mulTN(dPre, T * B, G, hPrev, H),
      dBHh: columnSums(dPre, T * B, G),
      dH0: dhNext,
      dC0: dC,
      flow,
    };
  }
}
