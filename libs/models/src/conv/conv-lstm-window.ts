/**
 * One ConvLSTM layer over a whole TBPTT window as ONE differentiable operation — the
 * window-op pattern of the fused cells (window-op.ts) for the convolutional LSTM of
 * conv-lstm-layer.ts (same tensors, layouts, state and carry).
 *
 * Forward: the operands are read once into Float32Arrays; conv-lstm-kernel.ts runs
 * the time loop (im2col patches of x and h, products through the Gemm, gates on the
 * arrays) and keeps the patches and gates for backward. Backward (tf.customGrad): the
 * hand-written BPTT of conv-lstm-kernel.ts, whose weight gradients over all steps are
 * one product each, and col2im for dX and dH.
 *
 * Products go through the network kernel's Gemm: native BLAS when the native kernel is
 * selected, else a TfGemm on the active tfjs backend (cpu, wasm, tensorflow) — no
 * convolution kernel is used, so wasm (no Conv2DBackpropFilter) trains it too.
 *
 * tf.customGrad returns one tensor, so the op returns [T + 2, B, Hh, Ww, F]: rows
 * 0..T−1 are y, row T is h_T, row T+1 is C_T; gradients reaching any of them flow back.
 */
import { tf } from '../tf';
import { TfGemm, type Gemm } from '../gemm';
import type { WindowKernel } from '../kernel';
import { checkCarryAt, checkConvLstmShapes, type ConvLstmInitial, type ConvLstmLayerOutput, type ConvLstmWeights } from './conv-lstm-layer';
import { convLstmBackward, convLstmForward, type ConvLstmDims } from './conv-lstm-kernel';

export interface ConvLstmWindowOptions {
  /** Step (0-based) whose state is returned as `carry`. @defaultValue T − 1 (the window's end) */
  carryAt?: number;
  /** Matrix products. @defaultValue the kernel's, else a TfGemm on the active backend */
  gemm?: Gemm;
  /** The network's window kernel (selectKernel); only its Gemm is used. @defaultValue none: a TfGemm */
  kernel?: WindowKernel;
}

function readF32(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/** Runs one ConvLSTM layer over x [T, B, Hh, Ww, C] as one fused op; call inside tf.tidy / tf.variableGrads. */
export function convLstmFused(w: ConvLstmWeights, x: tf.Tensor5D, initial: ConvLstmInitial, opts: ConvLstmWindowOptions = {}): ConvLstmLayerOutput {
  checkConvLstmShapes(w, x, initial);
  const [T, B, Hh, Ww, C] = x.shape;
  const [G, F, kh, kw] = w.wHh.shape;
  const carryAt = checkCarryAt(opts.carryAt, T);
  const gemm = opts.gemm ?? opts.kernel?.gemm ?? new TfGemm();
  const d: ConvLstmDims = { T, B, Hh, Ww, C, F, kh, kw };
  const n = B * Hh * Ww * F;
  let carry: ConvLstmLayerOutput['carry'] | undefined;

  const op = tf.customGrad((...args) => {
    const [xs, wIh, wHh, bias, wC, h0, c0] = args as tf.Tensor[];
    const packed = new Float32Array((T + 2) * n);
    const w = { wIh: readF32(wIh), wHh: readF32(wHh), bias: readF32(bias), wC: readF32(wC) };
    const fwd = convLstmForward(gemm, d, w, readF32(xs), readF32(h0), readF32(c0), carryAt, packed.subarray(0, T * n));
    carry = { h: fwd.hCarry, c: fwd.cCarry };
    packed.set(fwd.hT, T * n);
    packed.set(fwd.cT, (T + 1) * n);
    const value = tf.tensor5d(packed, [T + 2, B, Hh, Ww, F]);
    const gradFunc = (dy: tf.Tensor): tf.Tensor[] => {
      const dv = readF32(dy);
      const g = convLstmBackward(gemm, d, fwd.saved, dv.subarray(0, T * n), dv.subarray(T * n, (T + 1) * n), dv.subarray((T + 1) * n, (T + 2) * n));
      return [
        tf.tensor5d(g.dX, [T, B, Hh, Ww, C]),
        tf.tensor4d(g.dWIh, [G, C, kh, kw]),
        tf.tensor4d(g.dWHh, [G, F, kh, kw]),
        tf.tensor1d(g.dBias),
        tf.tensor4d(g.dWC, [3, F, Hh, Ww]),
        tf.tensor4d(g.dH0, [B, Hh, Ww, F]),
        tf.tensor4d(g.dC0, [B, Hh, Ww, F]),
      ];
    };
    return { value, gradFunc };
  });

  const packed = op(x, w.wIh, w.wHh, w.bias, w.wC, initial.h, initial.c) as tf.Tensor5D;
  const out = tf.tidy(() => {
    const [y, hT, cT] = tf.split(packed, [T, 1, 1], 0);
    return { y: y as tf.Tensor5D, hT: tf.reshape(hT, [B, Hh, Ww, F]) as tf.Tensor4D, cT: tf.reshape(cT, [B, Hh, Ww, F]) as tf.Tensor4D };
  });
  packed.dispose();
  return { ...out, carry: carry as ConvLstmLayerOutput['carry'] };
}
