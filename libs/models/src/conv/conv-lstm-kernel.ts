/**
 * The arithmetic of the fused ConvLSTM window (conv-lstm-window.ts) on Float32Arrays:
 * the forward time loop and its hand-written BPTT. Equations as in conv-lstm-layer.ts
 * (pre_· = W_x· * x_t + W_h· * h_{t−1} + b_·):
 *
 *   i = σ(pre_i + W_ci ⊙ C_{t−1}),  f = σ(pre_f + W_cf ⊙ C_{t−1}),  g = tanh(pre_g)   (g = C̃)
 *   C_t = f ⊙ C_{t−1} + i ⊙ g,  o = σ(pre_o + W_co ⊙ C_t),  h_t = o ⊙ tanh(C_t)
 *
 * BPTT, per pixel and filter, with δh = ∂L/∂h_t (the output's gradient plus what step
 * t+1 sent back through its convolution) and δC = ∂L/∂C_t from step t+1:
 *   δpre_o = δh ⊙ tanh(C_t) ⊙ o(1 − o)
 *   δC    += δh ⊙ o ⊙ (1 − tanh²(C_t)) + δpre_o ⊙ W_co          (o peeks at C_t)
 *   δpre_i = δC ⊙ g ⊙ i(1 − i),  δpre_f = δC ⊙ C_{t−1} ⊙ f(1 − f),  δpre_g = δC ⊙ i ⊙ (1 − g²)
 *   δC_{t−1} = δC ⊙ f + δpre_i ⊙ W_ci + δpre_f ⊙ W_cf
 *   δW_ci += Σ_b δpre_i ⊙ C_{t−1},  δW_cf += Σ_b δpre_f ⊙ C_{t−1},  δW_co += Σ_b δpre_o ⊙ C_t
 *   δh_{t−1} = col2im(δpre_t · W_hmatᵀ)                            (the adjoint of W_h * h_{t−1})
 *
 * Products (every one through the Gemm; rows R = B·Hh·Ww pixels per step):
 *   forward   xProj = im2col(X) · W_xmat                one [T·R, Kh·Kw·C] × [Kh·Kw·C, 4F] (b is added in the gate loop)
 *             per step im2col(h_{t−1}) · W_hmat          [R, Kh·Kw·F] × [Kh·Kw·F, 4F]
 *   backward  per step δpre_t · W_hmatᵀ                  [R, 4F] × [4F, Kh·Kw·F]
 *             δW_hmat = im2col(H_prev)ᵀ · δpre           one product over all T·R rows
 *             δW_xmat = im2col(X)ᵀ · δpre,  dX = col2im(δpre · W_xmatᵀ)   one product each
 * The patches of every h_{t−1} are kept from the forward for δW_h: 9·F floats per pixel and
 * step with a 3×3 kernel — the memory price of one product instead of T. The per-step
 * products write into the gate array (gates_t = xProj_t + im2col(h_{t−1}) · W_hmat), and
 * every work array comes from, and after backward goes back to, the pool of scratch.ts.
 */
import type { Gemm } from '../gemm';
import { columnSums } from '../cells/cell-kernel';
import type { KernelSize } from './im2col';
import { col2imArray, col2imInto, filterToMatrix, im2colInto, matrixToFilter, type FrameBatch } from './patches';
import { convLstmBuffers, gemmInto } from './scratch';

export interface ConvLstmDims {
  T: number;
  B: number;
  Hh: number;
  Ww: number;
  /** Input channels. */
  C: number;
  /** Filters: channels of h and C. */
  F: number;
  kh: number;
  kw: number;
}

/** The layer's tensors as arrays, layouts of conv-lstm-layer.ts. */
export interface ConvLstmArrays {
  /** [4F, C, Kh, Kw] */
  wIh: Float32Array;
  /** [4F, F, Kh, Kw] */
  wHh: Float32Array;
  /** [4F] */
  bias: Float32Array;
  /** [3, F, Hh, Ww] */
  wC: Float32Array;
}

interface ConvLstmSaved {
  /** im2col of every frame, [T·R, Kh·Kw·C] (pooled). */
  patchX: Float32Array;
  /** im2col of every h_{t−1}, [T·R, Kh·Kw·F] (pooled). */
  patchH: Float32Array;
  /** Post-activation gates, [T·R, 4F] in i, f, g, o blocks (pooled). */
  gates: Float32Array;
  /** C_t of every step, [T, R·F] (pooled). */
  c: Float32Array;
  c0: Float32Array;
  /** W_xmat [Kh·Kw·C, 4F] and W_hmat [Kh·Kw·F, 4F]. */
  wxMat: Float32Array;
  whMat: Float32Array;
  /** Peepholes per pixel, [3, Hh·Ww, F]: W_c·[gate, f, y, x] at (gate·P + y·Ww + x)·F + f. */
  peep: Float32Array;
  /** Set when backward has handed the pooled arrays back. */
  used: boolean;
}

export interface ConvLstmForward {
  /** h_T, C_T and the state after step carryAt, [B, Hh, Ww, F] each (fresh arrays). */
  hT: Float32Array;
  cT: Float32Array;
  hCarry: Float32Array;
  cCarry: Float32Array;
  /** What backward needs (opaque); its work arrays return to the pool when backward is done. */
  saved: unknown;
}

export interface ConvLstmGradients {
  /** [T, B, Hh, Ww, C] */
  dX: Float32Array;
  dWIh: Float32Array;
  dWHh: Float32Array;
  dBias: Float32Array;
  dWC: Float32Array;
  dH0: Float32Array;
  dC0: Float32Array;
}

/**
 * σ, local: called 3·T·B·Hh·Ww·F times a window, and a call through another module's
 * export goes through a getter in the transpiled code (visible in profiles).
 */
function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** Derived sizes: pixels P per frame, rows R = B·P per step, G = 4F gate columns, n = R·F state values, patch widths. */
function sizes(d: ConvLstmDims) {
  const k: KernelSize = { kh: d.kh, kw: d.kw };
  const P = d.Hh * d.Ww;
  const R = d.B * P;
  return { k, P, R, G: 4 * d.F, n: R * d.F, KC: d.kh * d.kw * d.C, KF: d.kh * d.kw * d.F };
}

/** [3, F, P] (the tensor's layout) → [3, P, F] (the gate loop's), or back with `inverse`. */
function peepholeLayout(a: Float32Array | Float64Array, F: number, P: number, inverse = false): Float32Array {
  const out = new Float32Array(a.length);
  for (let g = 0; g < 3; g++)
    for (let f = 0; f < F; f++)
      for (let q = 0; q < P; q++) {
        const fq = (g * F + f) * P + q;
        const qf = (g * P + q) * F + f;
        if (inverse) out[fq] = a[qf];
        else out[qf] = a[fq];
      }
  return out;
}

/**
 * The forward time loop; h_t of every step goes into y ([T, B, Hh, Ww, F], T·B·Hh·Ww·F
 * values — the caller's output array, so no copy is made).
 */
export function convLstmForward(gemm: Gemm, d: ConvLstmDims, w: ConvLstmArrays, x: Float32Array, h0: Float32Array, c0: Float32Array, carryAt: number, y: Float32Array): ConvLstmForward {
  const { T, B, Hh, Ww, C, F } = d;
  const { k, P, R, G, n, KC, KF } = sizes(d);
  if (y.length !== T * n) throw new RangeError(`ConvLSTM forward expects y of T·B·Hh·Ww·F = ${T * n} values, got ${y.length}`);
  const pool = convLstmBuffers;
  const stepFrames: FrameBatch = { N: B, Hh, Ww, C: F };

  const patchX = pool.take(T * R * KC);
  im2colInto(x, { N: T * B, Hh, Ww, C }, k, patchX);
  const wxMat = filterToMatrix(w.wIh, G, C, k);
  const whMat = filterToMatrix(w.wHh, G, F, k);
  const peep = peepholeLayout(w.wC, F, P);
  // xProj, then (step by step) + the recurrent product, then the gates, all in one array.
  const gates = pool.take(T * R * G);
  const wx = gemm.matrix(wxMat, KC, G);
  try {
    gemmInto(gemm, patchX, T * R, wx, gates);
  } finally {
    gemm.release(wx);
  }
  const patchH = pool.take(T * R * KF);
  const c = pool.take(T * n);
  const wh = gemm.matrix(whMat, KF, G);
  let h = h0;
  let cPrev = c0;
  try {
    for (let t = 0; t < T; t++) {
      const pOff = t * R * KF;
      im2colInto(h, stepFrames, k, patchH, pOff);
      gemmInto(gemm, patchH.subarray(pOff, pOff + R * KF), R, wh, gates.subarray(t * R * G, (t + 1) * R * G), true);
      const sOff = t * n;
      for (let r = 0; r < R; r++) {
        const row = (t * R + r) * G;
        const q = r % P;
        for (let f = 0; f < F; f++) {
          const kk = r * F + f;
          const cp = cPrev[kk];
          const ig = sigmoid(gates[row + f] + w.bias[f] + peep[q * F + f] * cp);
          const fg = sigmoid(gates[row + F + f] + w.bias[F + f] + peep[(P + q) * F + f] * cp);
          const g = Math.tanh(gates[row + 2 * F + f] + w.bias[2 * F + f]);
          const ct = fg * cp + ig * g;
          const og = sigmoid(gates[row + 3 * F + f] + w.bias[3 * F + f] + peep[(2 * P + q) * F + f] * ct);
          gates[row + f] = ig;
          gates[row + F + f] = fg;
          gates[row + 2 * F + f] = g;
          gates[row + 3 * F + f] = og;
          c[sOff + kk] = ct;
          y[sOff + kk] = og * Math.tanh(ct);
        }
      }
      h = y.subarray(sOff, sOff + n);
      cPrev = c.subarray(sOff, sOff + n);
    }
  } finally {
    gemm.release(wh);
  }
  return {
    hT: y.slice((T - 1) * n, T * n),
    cT: c.slice((T - 1) * n, T * n),
    hCarry: y.slice(carryAt * n, (carryAt + 1) * n),
    cCarry: c.slice(carryAt * n, (carryAt + 1) * n),
    saved: { patchX, patchH, gates, c, c0, wxMat, whMat, peep, used: false } satisfies ConvLstmSaved,
  };
}

/** BPTT through the window: gradients of every operand given ∂L/∂y, ∂L/∂h_T and ∂L/∂C_T. Runs once per forward. */
export function convLstmBackward(gemm: Gemm, d: ConvLstmDims, saved: unknown, dY: Float32Array, dHT: Float32Array, dCT: Float32Array): ConvLstmGradients {
  const { T, B, Hh, Ww, C, F } = d;
  const s = saved as ConvLstmSaved;
  if (s.used) throw new Error('ConvLSTM window backward ran twice for one forward; its work arrays are already back in the pool');
  s.used = true;
  const { patchX, patchH, gates, c, c0, wxMat, whMat, peep } = s;
  const { k, P, R, G, n, KC, KF } = sizes(d);
  const pool = convLstmBuffers;
  const dPre = pool.take(T * R * G);
  const dPatch = pool.take(R * KF);
  const dh = pool.take(n);
  const dhPrev = pool.take(n);
  const dPeep = new Float64Array(3 * P * F);
  const dC = Float32Array.from(dCT);
  let dhNext: Float32Array = dHT;
  const whT = gemm.matrix(whMat, KF, G, true);
  try {
    for (let t = T - 1; t >= 0; t--) {
      const off = t * n;
      for (let kk = 0; kk < n; kk++) dh[kk] = dY[off + kk] + dhNext[kk];
      const cPrev = t === 0 ? c0 : c.subarray(off - n, off);
      for (let r = 0; r < R; r++) {
        const row = (t * R + r) * G;
        const q = r % P;
        for (let f = 0; f < F; f++) {
          const kk = r * F + f;
          const ig = gates[row + f];
          const fg = gates[row + F + f];
          const g = gates[row + 2 * F + f];
          const og = gates[row + 3 * F + f];
          const ct = c[off + kk];
          const cp = cPrev[kk];
          const tc = Math.tanh(ct);
          const pi = q * F + f;
          const pf = (P + q) * F + f;
          const po = (2 * P + q) * F + f;
          const dpo = dh[kk] * tc * og * (1 - og);
          const dc = dC[kk] + dh[kk] * og * (1 - tc * tc) + dpo * peep[po];
          const dpi = dc * g * ig * (1 - ig);
          const dpf = dc * cp * fg * (1 - fg);
          dPre[row + f] = dpi;
          dPre[row + F + f] = dpf;
          dPre[row + 2 * F + f] = dc * ig * (1 - g * g);
          dPre[row + 3 * F + f] = dpo;
          dC[kk] = dc * fg + dpi * peep[pi] + dpf * peep[pf];
          dPeep[pi] += dpi * cp;
          dPeep[pf] += dpf * cp;
          dPeep[po] += dpo * ct;
        }
      }
      gemmInto(gemm, dPre.subarray(t * R * G, (t + 1) * R * G), R, whT, dPatch);
      col2imInto(dPatch, { N: B, Hh, Ww, C: F }, k, dhPrev);
      dhNext = dhPrev;
    }
  } finally {
    gemm.release(whT);
  }
  const dPatchX = pool.take(T * R * KC);
  const wxT = gemm.matrix(wxMat, KC, G, true);
  try {
    gemmInto(gemm, dPre, T * R, wxT, dPatchX);
  } finally {
    gemm.release(wxT);
  }
  const grads: ConvLstmGradients = {
    dX: col2imArray(dPatchX, { N: T * B, Hh, Ww, C }, k),
    dWIh: matrixToFilter(gemm.mulTN(patchX, T * R, KC, dPre, G), G, C, k),
    dWHh: matrixToFilter(gemm.mulTN(patchH, T * R, KF, dPre, G), G, F, k),
    dBias: columnSums(dPre, T * R, G),
    dWC: peepholeLayout(dPeep, F, P, true),
    dH0: dhPrev.slice(),
    dC0: dC,
  };
  pool.give(patchX, patchH, gates, c, dPre, dPatch, dh, dhPrev, dPatchX);
  return grads;
}
