/**
 * Float64 reference of the ConvLSTM equations (conv-lstm-layer.ts), plain loops
 * straight from the lecture's slide — no im2col, no tfjs — for the tests:
 *
 *   pre_g[b, y, x, f] = b_g[f] + Σ_{c, dy, dx} W_xg[f, c, dy, dx] · x_t[b, y + dy − pt, x + dx − pl, c]
 *                              + Σ_{c, dy, dx} W_hg[f, c, dy, dx] · h_{t−1}[b, y + dy − pt, x + dx − pl, c]
 *   (out-of-frame pixels are 0: 'same' padding, pt = ⌊(Kh − 1)/2⌋, pl = ⌊(Kw − 1)/2⌋)
 *   i = σ(pre_i + W_ci ⊙ C_{t−1}), f = σ(pre_f + W_cf ⊙ C_{t−1}), C̃ = tanh(pre_g),
 *   C_t = f ⊙ C_{t−1} + i ⊙ C̃, o = σ(pre_o + W_co ⊙ C_t), h_t = o ⊙ tanh(C_t)
 *
 * Layouts as in conv-lstm-layer.ts: x [T, B, Hh, Ww, C], state [B, Hh, Ww, F],
 * weights OIHW with gate blocks i, f, g, o, peepholes [3, F, Hh, Ww].
 */
import type { ConvLstmDims } from './conv-lstm-kernel';

/** T, B, Hh, Ww, C, F, Kh, Kw: the same dimensions as the fused window's (a type, no shared code). */
export type ConvRefDims = ConvLstmDims;

export interface ConvRefParams {
  wIh: Float64Array;
  wHh: Float64Array;
  bias: Float64Array;
  wC: Float64Array;
}

export interface ConvRefForward {
  /** [T, B, Hh, Ww, F] */
  y: Float64Array;
  hT: Float64Array;
  cT: Float64Array;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** Adds the 'same' convolution of src [B, Hh, Ww, Cs] with w [4F, Cs, Kh, Kw] into pre [B, Hh, Ww, 4F]. */
function convInto(pre: Float64Array, src: Float64Array, srcOff: number, Cs: number, w: Float64Array, d: ConvRefDims): void {
  const { B, Hh, Ww, F, kh, kw } = d;
  const pt = Math.floor((kh - 1) / 2);
  const pl = Math.floor((kw - 1) / 2);
  const G = 4 * F;
  for (let b = 0; b < B; b++)
    for (let y = 0; y < Hh; y++)
      for (let x = 0; x < Ww; x++)
        for (let o = 0; o < G; o++) {
          let s = 0;
          for (let c = 0; c < Cs; c++)
            for (let dy = 0; dy < kh; dy++) {
              const yy = y + dy - pt;
              if (yy < 0 || yy >= Hh) continue;
              for (let dx = 0; dx < kw; dx++) {
                const xx = x + dx - pl;
                if (xx < 0 || xx >= Ww) continue;
                s += w[((o * Cs + c) * kh + dy) * kw + dx] * src[srcOff + ((b * Hh + yy) * Ww + xx) * Cs + c];
              }
            }
          pre[((b * Hh + y) * Ww + x) * G + o] += s;
        }
}

export function referenceConvLstmForward(p: ConvRefParams, d: ConvRefDims, x: Float64Array, h0: Float64Array, c0: Float64Array): ConvRefForward {
  const { T, B, Hh, Ww, C, F } = d;
  const P = Hh * Ww;
  const n = B * P * F;
  const y = new Float64Array(T * n);
  let h = Float64Array.from(h0);
  let c = Float64Array.from(c0);
  for (let t = 0; t < T; t++) {
    const pre = new Float64Array(B * P * 4 * F);
    for (let r = 0; r < B * P; r++) for (let o = 0; o < 4 * F; o++) pre[r * 4 * F + o] = p.bias[o];
    convInto(pre, x, t * B * P * C, C, p.wIh, d);
    convInto(pre, h, 0, F, p.wHh, d);
    const hNew = new Float64Array(n);
    const cNew = new Float64Array(n);
    for (let b = 0; b < B; b++)
      for (let q = 0; q < P; q++)
        for (let f = 0; f < F; f++) {
          const k = (b * P + q) * F + f;
          const row = (b * P + q) * 4 * F;
          // peephole W_c·[gate, f, y, x] with q = y·Ww + x
          const peep = (gate: number) => p.wC[(gate * F + f) * P + q];
          const ig = sigmoid(pre[row + f] + peep(0) * c[k]);
          const fg = sigmoid(pre[row + F + f] + peep(1) * c[k]);
          const g = Math.tanh(pre[row + 2 * F + f]);
          const ct = fg * c[k] + ig * g;
          const og = sigmoid(pre[row + 3 * F + f] + peep(2) * ct);
          cNew[k] = ct;
          hNew[k] = og * Math.tanh(ct);
        }
    h = hNew;
    c = cNew;
    y.set(h, t * n);
  }
  return { y, hT: h, cT: c };
}
