/**
 * The lecture's LSTM variants ("Variants on LSTM"): peepholes and coupled
 * forget/input gates, alone or together. The plain LSTM stays in lstm-cell.ts
 * (and in the native kernel) untouched; this cell runs on the tfjs path — its
 * products go through whatever Gemm the window op hands it (native BLAS too),
 * its gate loop is TypeScript.
 *
 * Peepholes, in the lecture's form: all three gates read [C_{t−1}, h_{t−1}, x_t],
 *   f_t = σ(W_f·[C_{t−1}, h_{t−1}, x_t] + b_f)
 *   i_t = σ(W_i·[C_{t−1}, h_{t−1}, x_t] + b_i)
 *   o_t = σ(W_o·[C_{t−1}, h_{t−1}, x_t] + b_o)
 * i.e. a full H×H matrix on C_{t−1} per gate (not Gers' diagonal), and the output
 * gate reads C_{t−1} like the others (the slide's form, not C_t).
 * Coupled gates: i_t = 1 − f_t, so C_t = f_t ⊙ C_{t−1} + (1 − f_t) ⊙ C̃_t.
 * Always: C̃_t = g_t = tanh(W_C·[h_{t−1}, x_t] + b_C), h_t = o_t ⊙ tanh(C_t).
 *
 * Parameter layout, PyTorch-style names (nn.LSTM has neither variant, so these
 * checkpoints do not load into it):
 *   weight_ih_l{k} [G·H, I], weight_hh_l{k} [G·H, H], bias_ih_l{k}, bias_hh_l{k} [G·H]
 *       gate blocks i, f, g, o (G = 4), or f, g, o when coupled (G = 3)
 *   weight_ch_l{k} [P·H, H]   peepholes only: the C_{t−1} columns of W_i, W_f, W_o
 *       stacked i, f, o (P = 3), or f, o when coupled (P = 2); no bias of its own
 *       (b_ih + b_hh already are the gate's bias)
 *
 * BPTT, with δh = ∂L/∂h_t (output plus recurrence) and δC_t from step t+1:
 *   δC  = δC_t + δh ⊙ o ⊙ (1 − tanh²(C_t))
 *   δo  = δh ⊙ tanh(C_t),  δg = δC ⊙ i,  δi = δC ⊙ g
 *   δf  = δC ⊙ C_{t−1}  (coupled: − δi, since i = 1 − f)
 *   pre-activation gradients: δf·f(1−f), δg·(1−g²), δo·o(1−o), δi·i(1−i) (not coupled)
 *   δh_{t−1} = ∂L/∂pre_t · W_hh
 *   δC_{t−1} = δC ⊙ f + ∂L/∂pre^P_t · W_ch      (the peephole rows' pre-activation gradients)
 *   ∂L/∂W_ch = Σ_t ∂L/∂pre^Pᵀ_t · C_{t−1}        (one product over the window)
 */
import type { Gemm } from '../gemm';
import { columnSums, norm, sigmoid, type BackwardResult, type CellKernel, type ForwardResult, type RecurrentWeights, type WindowDims } from './cell-kernel';

interface VariantSaved {
  /** Post-activation gates per step, [T·B, 4H] as i, f, g, o (i = 1 − f when coupled). */
  gates: Float32Array;
  /** C_t per step, [T·B, H]. */
  c: Float32Array;
  /** C_{t−1} per step, [T·B, H] (c0 first). */
  cPrev: Float32Array;
  /** h_{t−1} per step, [T·B, H] (h0 first). */
  hPrev: Float32Array;
}

export interface LstmVariantOptions {
  /** @defaultValue false */
  peepholes?: boolean;
  /** @defaultValue false */
  coupledGates?: boolean;
}

export class LstmVariantCell implements CellKernel {
  private readonly peepholes: boolean;
  private readonly coupled: boolean;
  /** Weight blocks: G in W_ih/W_hh, P in W_ch. */
  private readonly G: number;
  private readonly P: number;

  constructor(opts: LstmVariantOptions) {
    this.peepholes = opts.peepholes ?? false;
    this.coupled = opts.coupledGates ?? false;
    this.G = this.coupled ? 3 : 4;
    this.P = this.peepholes ? (this.coupled ? 2 : 3) : 0;
  }

  /** Block index of gate i, f, g, o in W_ih/W_hh rows (−1: absent). */
  private block(gate: 'i' | 'f' | 'g' | 'o'): number {
    const order = this.coupled ? ['f', 'g', 'o'] : ['i', 'f', 'g', 'o'];
    return order.indexOf(gate);
  }

  /** Block index of gate i, f, o in W_ch rows (−1: absent). */
  private peepBlock(gate: 'i' | 'f' | 'o'): number {
    const order = this.coupled ? ['f', 'o'] : ['i', 'f', 'o'];
    return this.peepholes ? order.indexOf(gate) : -1;
  }

  forward(gemm: Gemm, d: WindowDims, w: RecurrentWeights, xProj: Float32Array, h0: Float32Array, c0: Float32Array | undefined, carryAt: number): ForwardResult {
    const { T, B, H } = d;
    const n = B * H;
    const GH = this.G * H;
    const PH = this.P * H;
    if (!c0) throw new Error('LSTM window expects an initial cell state c0');
    if (this.peepholes && w.wCh?.length !== PH * H) throw new Error(`peephole LSTM expects W_ch [${this.P}·H, H] = ${PH * H} values, got ${w.wCh?.length ?? 'none'}`);
    const [bi, bf, bg, bo] = [this.block('i'), this.block('f'), this.block('g'), this.block('o')];
    const [pi, pf, po] = [this.peepBlock('i'), this.peepBlock('f'), this.peepBlock('o')];
    const whhT = gemm.matrix(w.wHh, GH, H, true);
    const wchT = this.peepholes ? gemm.matrix(w.wCh as Float32Array, PH, H, true) : undefined;
    const y = new Float32Array(T * n);
    const c = new Float32Array(T * n);
    const cPrevAll = new Float32Array(T * n);
    const hPrev = new Float32Array(T * n);
    const gates = new Float32Array(T * n * 4);
    let h = h0;
    let cPrev = c0;
    // pre-activation of block k, unit j, stream b at step t
    try {
      for (let t = 0; t < T; t++) {
        hPrev.set(h, t * n);
        cPrevAll.set(cPrev, t * n);
        const hp = gemm.mul(h, B, whhT);
        const cp = wchT ? gemm.mul(cPrev, B, wchT) : undefined;
        for (let b = 0; b < B; b++) {
          const xRow = (t * B + b) * GH;
          const hRow = b * GH;
          const cRow = b * PH;
          const pre = (k: number, p: number, j: number): number => xProj[xRow + k * H + j] + hp[hRow + k * H + j] + w.bHh[k * H + j] + (cp && p >= 0 ? cp[cRow + p * H + j] : 0);
          const gRow = (t * B + b) * 4 * H;
          for (let j = 0; j < H; j++) {
            const k = b * H + j;
            const f = sigmoid(pre(bf, pf, j));
            const i = this.coupled ? 1 - f : sigmoid(pre(bi, pi, j));
            const g = Math.tanh(pre(bg, -1, j));
            const o = sigmoid(pre(bo, po, j));
            const ct = f * cPrev[k] + i * g;
            gates[gRow + j] = i;
            gates[gRow + H + j] = f;
            gates[gRow + 2 * H + j] = g;
            gates[gRow + 3 * H + j] = o;
            c[t * n + k] = ct;
            y[t * n + k] = o * Math.tanh(ct);
          }
        }
        h = y.subarray(t * n, (t + 1) * n);
        cPrev = c.subarray(t * n, (t + 1) * n);
      }
    } finally {
      gemm.release(whhT);
      if (wchT) gemm.release(wchT);
    }
    return {
      y,
      hT: y.slice((T - 1) * n),
      cT: c.slice((T - 1) * n),
      hCarry: y.slice(carryAt * n, (carryAt + 1) * n),
      cCarry: c.slice(carryAt * n, (carryAt + 1) * n),
      saved: { gates, c, cPrev: cPrevAll, hPrev } satisfies VariantSaved,
    };
  }

  backward(gemm: Gemm, d: WindowDims, w: RecurrentWeights, saved: unknown, dY: Float32Array, dHT: Float32Array, dCT: Float32Array | undefined): BackwardResult {
    const { T, B, H } = d;
    const { gates, c, cPrev, hPrev } = saved as VariantSaved;
    const n = B * H;
    const GH = this.G * H;
    const PH = this.P * H;
    const [bi, bf, bg, bo] = [this.block('i'), this.block('f'), this.block('g'), this.block('o')];
    const [pi, pf, po] = [this.peepBlock('i'), this.peepBlock('f'), this.peepBlock('o')];
    const whh = gemm.matrix(w.wHh, GH, H);
    const wch = this.peepholes ? gemm.matrix(w.wCh as Float32Array, PH, H) : undefined;
    const dPre = new Float32Array(T * B * GH);
    const dPeep = this.peepholes ? new Float32Array(T * B * PH) : undefined;
    const flow = new Float64Array(T);
    const dh = new Float32Array(n);
    let dhNext: Float32Array = dHT;
    const dC = dCT ? Float32Array.from(dCT) : new Float32Array(n);
    try {
      for (let t = T - 1; t >= 0; t--) {
        const off = t * n;
        for (let k = 0; k < n; k++) dh[k] = dY[off + k] + dhNext[k];
        flow[t] = norm(dh);
        for (let b = 0; b < B; b++) {
          const gRow = (t * B + b) * 4 * H;
          const row = (t * B + b) * GH;
          const pRow = (t * B + b) * PH;
          for (let j = 0; j < H; j++) {
            const k = b * H + j;
            const i = gates[gRow + j];
            const f = gates[gRow + H + j];
            const g = gates[gRow + 2 * H + j];
            const o = gates[gRow + 3 * H + j];
            const tc = Math.tanh(c[off + k]);
            const dc = dC[k] + dh[k] * o * (1 - tc * tc);
            const di = dc * g;
            const df = dc * cPrev[off + k] - (this.coupled ? di : 0);
            const dPreF = df * f * (1 - f);
            const dPreO = dh[k] * tc * o * (1 - o);
            dPre[row + bf * H + j] = dPreF;
            dPre[row + bg * H + j] = dc * i * (1 - g * g);
            dPre[row + bo * H + j] = dPreO;
            if (!this.coupled) dPre[row + bi * H + j] = di * i * (1 - i);
            if (dPeep) {
              dPeep[pRow + pf * H + j] = dPreF;
              dPeep[pRow + po * H + j] = dPreO;
              if (pi >= 0) dPeep[pRow + pi * H + j] = dPre[row + bi * H + j];
            }
            dC[k] = dc * f;
          }
        }
        dhNext = gemm.mul(dPre.subarray(t * B * GH, (t + 1) * B * GH), B, whh);
        if (dPeep && wch) {
          const viaPeep = gemm.mul(dPeep.subarray(t * B * PH, (t + 1) * B * PH), B, wch);
          for (let k = 0; k < n; k++) dC[k] += viaPeep[k];
        }
      }
    } finally {
      gemm.release(whh);
      if (wch) gemm.release(wch);
    }
    return {
      dXProj: dPre,
      dWHh: gemm.mulTN(dPre, T * B, GH, hPrev, H),
      dBHh: columnSums(dPre, T * B, GH),
      dWCh: dPeep ? gemm.mulTN(dPeep, T * B, PH, cPrev, H) : undefined,
      dH0: dhNext,
      dC0: dC,
      flow,
    };
  }
}
