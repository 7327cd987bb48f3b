/**
 * Convolution as im2col + one matrix product, built from ops every tfjs backend
 * can differentiate (pad, slice, concat, reshape, transpose, matMul).
 *
 * Why not tf.conv2d: the `wasm` backend has no Conv2DBackpropFilter kernel, so a
 * tf.conv2d cannot be trained there. im2col needs no convolution kernel at all:
 * the gradient of slice is pad and of concat is slice, and the filter gradient
 * becomes one matMul of the unrolled patches — the same product XNNPACK runs for
 * every other layer.
 *
 *   patches[n·Hh·Ww + y·Ww + x, (dy·Kw + dx)·C + c] = pad(x)[n, y + dy, x + dx, c]
 *   conv(x, W) = patches · Wmat,  Wmat = W (OIHW [O, C, Kh, Kw]) permuted to [Kh, Kw, C, O]
 *
 * "same" padding: Kh − 1 rows in total, ⌊(Kh − 1)/2⌋ of them before (TensorFlow's
 * rule, so even kernels match tf.conv2d 'same'); likewise for columns. The product
 * is cross-correlation, as in nn.Conv2d and tf.conv2d.
 */
import { tf } from '../tf';

/** Kernel height and width. */
export interface KernelSize {
  kh: number;
  kw: number;
}

/** A kernel given as one size (square) or [height, width]. */
export type KernelSpec = number | readonly [number, number];

export function kernelSize(k: KernelSpec): KernelSize {
  const [kh, kw] = typeof k === 'number' ? [k, k] : k;
  if (!Number.isInteger(kh) || !Number.isInteger(kw) || kh < 1 || kw < 1) throw new RangeError(`kernel must be positive integers, got ${JSON.stringify(k)}`);
  return { kh, kw };
}

/** x [N, Hh, Ww, C] → patches [N·Hh·Ww, Kh·Kw·C] for a stride-1 'same' convolution. */
export function im2col(x: tf.Tensor4D, k: KernelSize): tf.Tensor2D {
  const [N, Hh, Ww, C] = x.shape;
  if (k.kh === 1 && k.kw === 1) return tf.reshape(x, [N * Hh * Ww, C]);
  const top = Math.floor((k.kh - 1) / 2);
  const left = Math.floor((k.kw - 1) / 2);
  const padded = tf.pad(x, [
    [0, 0],
    [top, k.kh - 1 - top],
    [left, k.kw - 1 - left],
    [0, 0],
  ]);
  const taps: tf.Tensor4D[] = [];
  for (let dy = 0; dy < k.kh; dy++) for (let dx = 0; dx < k.kw; dx++) taps.push(tf.slice(padded, [0, dy, dx, 0], [N, Hh, Ww, C]));
  return tf.reshape(tf.concat(taps, 3), [N * Hh * Ww, k.kh * k.kw * C]);
}

/** An OIHW filter [O, C, Kh, Kw] as the im2col matrix [Kh·Kw·C, O]. */
export function filterMatrix(w: tf.Tensor4D): tf.Tensor2D {
  const [O, C, kh, kw] = w.shape;
  return tf.reshape(tf.transpose(w, [2, 3, 1, 0]), [kh * kw * C, O]);
}

/** 'same', stride-1 convolution of x [N, Hh, Ww, C] with an OIHW filter: [N·Hh·Ww, O] (rows in NHW order). */
export function conv2dSame(x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor2D {
  const [, C, kh, kw] = w.shape;
  if (x.shape[3] !== C) throw new RangeError(`convolution expects ${C} input channels, got [${x.shape}]`);
  return tf.matMul(im2col(x, { kh, kw }), filterMatrix(w));
}
