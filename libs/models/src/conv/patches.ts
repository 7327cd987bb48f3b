/**
 * im2col and its adjoint col2im on plain Float32Arrays, for the fused ConvLSTM window
 * (conv-lstm-window.ts). Same layout as the tfjs version in im2col.ts:
 *
 *   patches[n·Hh·Ww + y·Ww + x, (dy·Kw + dx)·C + c] = x[n, y + dy − pt, x + dx − pl, c]
 *   (0 outside the frame: 'same' padding, pt = ⌊(Kh − 1)/2⌋, pl = ⌊(Kw − 1)/2⌋)
 *   conv(x, W) = patches · Wmat,  Wmat[(dy·Kw + dx)·C + c, o] = W[o, c, dy, dx]   (W OIHW)
 *
 * col2im is the transpose of im2col: it adds every patch entry back onto the pixel it
 * was copied from, so dX = col2im(dPatches) when patches = im2col(X).
 */
import type { KernelSize } from './im2col';

/** N frames of Hh×Ww pixels with C channels each, NHWC. */
export interface FrameBatch {
  N: number;
  Hh: number;
  Ww: number;
  C: number;
}

/** Writes im2col(src) ([N·Hh·Ww, Kh·Kw·C]) into out from `outOff`, zeros included (out may hold an earlier window's patches). */
export function im2colInto(src: Float32Array, s: FrameBatch, k: KernelSize, out: Float32Array, outOff = 0): void {
  const { N, Hh, Ww, C } = s;
  const { kh, kw } = k;
  const pt = Math.floor((kh - 1) / 2);
  const pl = Math.floor((kw - 1) / 2);
  const KC = kh * kw * C;
  for (let nIdx = 0; nIdx < N; nIdx++)
    for (let y = 0; y < Hh; y++)
      for (let x = 0; x < Ww; x++) {
        const rowBase = outOff + ((nIdx * Hh + y) * Ww + x) * KC;
        for (let dy = 0; dy < kh; dy++) {
          const yy = y + dy - pt;
          const inRow = yy >= 0 && yy < Hh;
          for (let dx = 0; dx < kw; dx++) {
            const xx = x + dx - pl;
            const to = rowBase + (dy * kw + dx) * C;
            if (inRow && xx >= 0 && xx < Ww) {
              const from = ((nIdx * Hh + yy) * Ww + xx) * C;
              for (let c = 0; c < C; c++) out[to + c] = src[from + c];
            } else {
              for (let c = 0; c < C; c++) out[to + c] = 0;
            }
          }
        }
      }
}

/** im2col(src) as a fresh [N·Hh·Ww, Kh·Kw·C] array. */
export function im2colArray(src: Float32Array, s: FrameBatch, k: KernelSize): Float32Array {
  const out = new Float32Array(s.N * s.Hh * s.Ww * k.kh * k.kw * s.C);
  im2colInto(src, s, k, out);
  return out;
}

/** The adjoint of im2col: patches [N·Hh·Ww, Kh·Kw·C] summed back onto the pixels, written into out [N, Hh, Ww, C] (overwritten). */
export function col2imInto(patches: Float32Array, s: FrameBatch, k: KernelSize, out: Float32Array): void {
  const { N, Hh, Ww, C } = s;
  const { kh, kw } = k;
  const pt = Math.floor((kh - 1) / 2);
  const pl = Math.floor((kw - 1) / 2);
  const KC = kh * kw * C;
  out.fill(0);
  for (let nIdx = 0; nIdx < N; nIdx++)
    for (let y = 0; y < Hh; y++)
      for (let x = 0; x < Ww; x++) {
        const rowBase = ((nIdx * Hh + y) * Ww + x) * KC;
        for (let dy = 0; dy < kh; dy++) {
          const yy = y + dy - pt;
          if (yy < 0 || yy >= Hh) continue;
          for (let dx = 0; dx < kw; dx++) {
            const xx = x + dx - pl;
            if (xx < 0 || xx >= Ww) continue;
            const to = ((nIdx * Hh + yy) * Ww + xx) * C;
            const from = rowBase + (dy * kw + dx) * C;
            for (let c = 0; c < C; c++) out[to + c] += patches[from + c];
          }
        }
      }
}

/** col2im as a fresh [N, Hh, Ww, C] array. */
export function col2imArray(patches: Float32Array, s: FrameBatch, k: KernelSize): Float32Array {
  const out = new Float32Array(s.N * s.Hh * s.Ww * s.C);
  col2imInto(patches, s, k, out);
  return out;
}

/** An OIHW filter [O, C, Kh, Kw] as the im2col matrix [Kh·Kw·C, O] (im2col.ts filterMatrix, on arrays). */
export function filterToMatrix(w: Float32Array, O: number, C: number, k: KernelSize): Float32Array {
  const { kh, kw } = k;
  const out = new Float32Array(w.length);
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let dy = 0; dy < kh; dy++)
        for (let dx = 0; dx < kw; dx++) out[((dy * kw + dx) * C + c) * O + o] = w[((o * C + c) * kh + dy) * kw + dx];
  return out;
}

/** The inverse of filterToMatrix: [Kh·Kw·C, O] back to OIHW [O, C, Kh, Kw] (a filter gradient). */
export function matrixToFilter(m: Float32Array, O: number, C: number, k: KernelSize): Float32Array {
  const { kh, kw } = k;
  const out = new Float32Array(m.length);
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let dy = 0; dy < kh; dy++)
        for (let dx = 0; dx < kw; dx++) out[((o * C + c) * kh + dy) * kw + dx] = m[((dy * kw + dx) * C + c) * O + o];
  return out;
}
