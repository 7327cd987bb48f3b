/**
 * A stack of ConvLSTM layers (conv-lstm-layer.ts) as the recurrent part of a
 * RecurrentNetwork, for next-frame prediction and other per-pixel outputs.
 *
 *   convlstm.*_l{k}   layer k's four tensors (conv-lstm-layer.ts); layer 0 reads the
 *                     frame's channels, layer k > 0 the F channels of layer k − 1
 *   decoder.weight    [O, F]   a 1×1 convolution over the top layer's h_t (Shi et al.'s
 *   decoder.bias      [O]      output layer): nn.Conv2d(F, O, 1)'s weight without its 1×1
 *
 * The network hands the top layer to the engine as per-pixel rows, top [T, B·Hh·Ww, F]:
 * the engine's linear head (headLoss: rows · decoder.weightᵀ + bias) is then exactly
 * the 1×1 convolution, and a target row of Hh·Ww·O values per (t, b) — the next frame,
 * NHWC-flattened — lines up with those rows. Its `hidden` is the state size per stream,
 * Hh·Ww·F, so the engine slices and checkpoints the [B, Hh, Ww, F] states like any other.
 *
 * Initialisation: weight_ih and weight_hh U(−1/√fan_in, 1/√fan_in) with fan_in =
 * (C + F)·Kh·Kw (nn.Conv2d's bound for the single convolution over [x_t, h_{t−1}]
 * that ConvLSTM implementations commonly use), bias 0 except the forget block 1
 * (tfjs-layers' unitForgetBias: C starts out remembered), peepholes 0 (a plain
 * ConvLSTM at the start; training grows them).
 */
import { tf } from '../tf';
import { assertFrame, type FrameShape } from './frame';
import { kernelSize, type KernelSpec } from './im2col';
import { convLstmTaped } from './conv-lstm-layer';
import { convLstmFused } from './conv-lstm-window';
import type { Gemm } from '../gemm';
import type { WindowKernel } from '../kernel';
import type { ConvParamSpec } from './cnn-encoder';

export interface ConvLstmConfig {
  /** The frame every time step carries (the dense input is this frame, NHWC-flattened). */
  frame: FrameShape;
  /** Channels F of h and C in every layer. */
  filters: number;
  /** Kernel of every convolution, one size or [height, width] ('same' padding). */
  kernel: KernelSpec;
}

/** State values per stream: Hh·Ww·F (the network's `hidden`). */
export function convLstmStateSize(cfg: ConvLstmConfig): number {
  return cfg.frame.height * cfg.frame.width * cfg.filters;
}

export function convLstmParameterSpecs(cfg: ConvLstmConfig, layers: number): ConvParamSpec[] {
  assertFrame(cfg.frame, 'convLstm.frame');
  if (!Number.isInteger(cfg.filters) || cfg.filters < 1) throw new RangeError(`convLstm.filters must be a positive integer, got ${cfg.filters}`);
  const { kh, kw } = kernelSize(cfg.kernel);
  const F = cfg.filters;
  const specs: ConvParamSpec[] = [];
  for (let k = 0; k < layers; k++) {
    const C = k === 0 ? cfg.frame.channels : F;
    specs.push({ name: `convlstm.weight_ih_l${k}`, shape: [4 * F, C, kh, kw] });
    specs.push({ name: `convlstm.weight_hh_l${k}`, shape: [4 * F, F, kh, kw] });
    specs.push({ name: `convlstm.bias_l${k}`, shape: [4 * F] });
    specs.push({ name: `convlstm.weight_c_l${k}`, shape: [3, F, cfg.frame.height, cfg.frame.width] });
  }
  return specs;
}

/** Initial values of a convlstm.* or cnn.* tensor (see the file comments); undefined for any other name. */
export function convInitialValues(spec: ConvParamSpec, uniform: (lo: number, hi: number) => number): Float32Array | undefined {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const fill = (bound: number) => {
    for (let i = 0; i < n; i++) out[i] = uniform(-bound, bound);
    return out;
  };
  if (/^convlstm\.weight_(ih|hh)_l/.test(spec.name)) {
    const [G, C, kh, kw] = spec.shape;
    // fan_in of the joint convolution over [x_t, h_{t−1}], (C + F)·Kh·Kw; weight_hh's shape
    // does not hold x's channel count, so F stands in for it there.
    return fill(1 / Math.sqrt((C + G / 4) * kh * kw));
  }
  if (spec.name.startsWith('convlstm.bias_l')) {
    const F = n / 4;
    out.fill(1, F, 2 * F);
    return out;
  }
  if (spec.name.startsWith('convlstm.weight_c_l')) return out;
  if (/^cnn\.head\d+\.conv\d+\.weight$/.test(spec.name)) {
    const [, C, kh, kw] = spec.shape;
    return fill(1 / Math.sqrt(C * kh * kw));
  }
  if (/^cnn\.head\d+\.conv\d+\.bias$/.test(spec.name)) {
    // nn.Conv2d: the bias bound is the weight's, 1/√fan_in; fan_in is not in a bias's shape, so 0 here.
    return out;
  }
  return undefined;
}

export interface ConvLstmStackState {
  /** [B, Hh, Ww, F] */
  h: Float32Array;
  c?: Float32Array;
}

/** How convLstmStack runs its layers. */
export interface ConvLstmStackOptions {
  /** Step whose state is returned as `carry` (TBPTT stride − 1). @defaultValue T − 1 */
  carryAt?: number;
  /**
   * 'fused': one custom-gradient op per layer (conv-lstm-window.ts); 'taped': tfjs ops
   * differentiated by tfjs (conv-lstm-layer.ts), kept as the autodiff reference.
   * @defaultValue 'fused' — at the benchmark's shapes on wasm it took ~4.5× less CPU per
   * training step than 'taped' with TfGemm products, ~9× with the native Gemm
   * (bench/convlstm; rough, measured on a loaded 2-core machine)
   */
  implementation?: 'fused' | 'taped';
  /** The fused op's products. @defaultValue the kernel's Gemm, else a TfGemm */
  gemm?: Gemm;
  /** The network's window kernel (selectKernel). @defaultValue none: a TfGemm */
  kernel?: WindowKernel;
}

/**
 * Every ConvLSTM layer over x [T, B, Hh·Ww·C]; returns top [T, B·Hh·Ww, F] and the carry of
 * each layer. Call inside tf.tidy / tf.variableGrads.
 */
export function convLstmStack(
  cfg: ConvLstmConfig,
  layers: number,
  param: (name: string) => tf.Tensor,
  x: tf.Tensor3D,
  state: readonly ConvLstmStackState[],
  opts: ConvLstmStackOptions = {},
): { top: tf.Tensor3D; carry: { h: Float32Array; c: Float32Array }[] } {
  const [T, B, I] = x.shape;
  const { height, width, channels } = cfg.frame;
  const F = cfg.filters;
  const implementation = opts.implementation ?? 'fused';
  if (implementation !== 'fused' && implementation !== 'taped') throw new RangeError(`ConvLSTM implementation must be 'fused' or 'taped', got ${JSON.stringify(implementation)}`);
  if (I !== height * width * channels) throw new RangeError(`ConvLSTM expects ${height}×${width}×${channels} = ${height * width * channels} input values per step, got ${I}`);
  let z = tf.reshape(x, [T, B, height, width, channels]) as tf.Tensor5D;
  const carry: { h: Float32Array; c: Float32Array }[] = [];
  for (let k = 0; k < layers; k++) {
    const s = state[k];
    if (s.h.length !== B * height * width * F || s.c?.length !== s.h.length) throw new RangeError(`ConvLSTM layer ${k} state must be h and c of [B, Hh, Ww, F] = [${B}, ${height}, ${width}, ${F}]`);
    const w = {
      wIh: param(`convlstm.weight_ih_l${k}`) as tf.Tensor4D,
      wHh: param(`convlstm.weight_hh_l${k}`) as tf.Tensor4D,
      bias: param(`convlstm.bias_l${k}`) as tf.Tensor1D,
      wC: param(`convlstm.weight_c_l${k}`) as tf.Tensor4D,
    };
    const initial = { h: tf.tensor4d(s.h, [B, height, width, F]), c: tf.tensor4d(s.c, [B, height, width, F]) };
    const out = implementation === 'fused' ? convLstmFused(w, z, initial, { carryAt: opts.carryAt, gemm: opts.gemm, kernel: opts.kernel }) : convLstmTaped(w, z, initial, opts.carryAt);
    carry.push(out.carry);
    z = out.y;
  }
  return { top: tf.reshape(z, [T, B * height * width, F]) as tf.Tensor3D, carry };
}
