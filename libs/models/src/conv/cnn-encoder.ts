/**
 * CNN + RNN (the lecture's "Many variants on CNN-RNN models"): a CNN encodes each
 * frame on its own, and the RNN reads the sequence of encodings.
 *
 *   e_t = flatten(CNN(x_t)),  s_t = f(U e_t + W s_{t−1} + b)
 *
 * Multi-head form (the last slide): the frame's channels are split into `heads`
 * equal groups — one group per sensor series — each processed independently by its
 * own CNN head; the heads' feature maps are flattened and concatenated into the
 * RNN input:  e_t = [flatten(CNN_1(x_t^(1))), …, flatten(CNN_S(x_t^(S)))].
 * A sensor series of L samples is a frame of height 1, width L, one channel per
 * sensor, with a 1×k kernel.
 *
 * Each head: `filters.length` layers of 'same' convolution (stride 1, im2col +
 * matMul, so it trains on wasm too) + bias + ReLU, each followed by max pooling over
 * non-overlapping `pool` windows when pool > 1.
 *
 * Tensors (OIHW like nn.Conv2d):
 *   cnn.head{h}.conv{j}.weight  [F_j, F_{j−1}, Kh, Kw]   F_{−1} = channels / heads
 *   cnn.head{h}.conv{j}.bias    [F_j]
 * Initialisation: U(−1/√fan_in, 1/√fan_in), nn.Conv2d's default bound.
 */
import { tf } from '../tf';
import { assertFrame, type FrameShape } from './frame';
import { conv2dSame, kernelSize, type KernelSpec } from './im2col';

export interface CnnEncoderConfig {
  /** The frame every time step carries (the dense input is this frame, NHWC-flattened). */
  frame: FrameShape;
  /** Output channels of each convolution layer of a head. */
  filters: number[];
  /**
   * Convolution kernel, one size or [height, width].
   * @defaultValue 3 — the smallest kernel that sees a pixel's neighbours on every side
   */
  kernel?: KernelSpec;
  /**
   * Max-pooling window after each layer, one size or [height, width]; it must divide the
   * feature map. @defaultValue 1 — no pooling
   */
  pool?: KernelSpec;
  /**
   * Independent CNN heads, each over channels / heads of the frame's channels.
   * @defaultValue 1 — one CNN over the whole frame
   */
  heads?: number;
}

export interface ConvParamSpec {
  name: string;
  shape: number[];
}

interface Geometry {
  heads: number;
  /** Channels per head. */
  cIn: number;
  kh: number;
  kw: number;
  ph: number;
  pw: number;
  /** Height and width of the feature map after each layer. */
  maps: { h: number; w: number }[];
}

function geometry(cfg: CnnEncoderConfig): Geometry {
  assertFrame(cfg.frame, 'cnn.frame');
  const heads = cfg.heads ?? 1;
  if (!Number.isInteger(heads) || heads < 1 || cfg.frame.channels % heads !== 0) {
    throw new RangeError(`cnn.heads must divide the frame's ${cfg.frame.channels} channels, got ${heads}`);
  }
  if (cfg.filters.length === 0 || cfg.filters.some((f) => !Number.isInteger(f) || f < 1)) throw new RangeError(`cnn.filters must be one or more positive integers, got ${JSON.stringify(cfg.filters)}`);
  const { kh, kw } = kernelSize(cfg.kernel ?? 3);
  const { kh: ph, kw: pw } = kernelSize(cfg.pool ?? 1);
  const maps: { h: number; w: number }[] = [];
  let h = cfg.frame.height;
  let w = cfg.frame.width;
  for (let j = 0; j < cfg.filters.length; j++) {
    if (h % ph !== 0 || w % pw !== 0) throw new RangeError(`cnn.pool ${ph}×${pw} must divide layer ${j}'s ${h}×${w} feature map`);
    h /= ph;
    w /= pw;
    maps.push({ h, w });
  }
  return { heads, cIn: cfg.frame.channels / heads, kh, kw, ph, pw, maps };
}

/** Size of e_t: heads × the last layer's flattened feature map. */
export function cnnOutputSize(cfg: CnnEncoderConfig): number {
  const g = geometry(cfg);
  const last = g.maps[g.maps.length - 1];
  return g.heads * last.h * last.w * cfg.filters[cfg.filters.length - 1];
}

export function cnnParameterSpecs(cfg: CnnEncoderConfig): ConvParamSpec[] {
  const g = geometry(cfg);
  const specs: ConvParamSpec[] = [];
  for (let h = 0; h < g.heads; h++) {
    let cPrev = g.cIn;
    cfg.filters.forEach((f, j) => {
      specs.push({ name: `cnn.head${h}.conv${j}.weight`, shape: [f, cPrev, g.kh, g.kw] });
      specs.push({ name: `cnn.head${h}.conv${j}.bias`, shape: [f] });
      cPrev = f;
    });
  }
  return specs;
}

/** Max over non-overlapping ph×pw windows of x [N, H, W, C] (reshape + max: differentiable on every backend). */
function maxPool(x: tf.Tensor4D, ph: number, pw: number): tf.Tensor4D {
  if (ph === 1 && pw === 1) return x;
  const [N, H, W, C] = x.shape;
  return tf.max(tf.reshape(x, [N, H / ph, ph, W / pw, pw, C]), [2, 4]) as tf.Tensor4D;
}

/**
 * e_t for every step: x [T, B, Hh·Ww·C] (NHWC-flattened frames) → [T, B, cnnOutputSize].
 * `param` looks a tensor up by name; call inside tf.tidy / tf.variableGrads.
 */
export function cnnEncode(cfg: CnnEncoderConfig, param: (name: string) => tf.Tensor, x: tf.Tensor3D): tf.Tensor3D {
  const g = geometry(cfg);
  const [T, B, I] = x.shape;
  const { height, width, channels } = cfg.frame;
  if (I !== height * width * channels) throw new RangeError(`cnn expects ${height}×${width}×${channels} = ${height * width * channels} input values per step, got ${I}`);
  const frames = tf.reshape(x, [T * B, height, width, channels]) as tf.Tensor4D;
  const groups = g.heads === 1 ? [frames] : (tf.split(frames, g.heads, 3) as tf.Tensor4D[]);
  const encoded = groups.map((input, h) => {
    let z = input;
    cfg.filters.forEach((f, j) => {
      const w = param(`cnn.head${h}.conv${j}.weight`) as tf.Tensor4D;
      const rows = tf.relu(tf.add(conv2dSame(z, w), param(`cnn.head${h}.conv${j}.bias`)));
      const [N, H, W] = z.shape;
      z = maxPool(tf.reshape(rows, [N, H, W, f]) as tf.Tensor4D, g.ph, g.pw);
    });
    return tf.reshape(z, [T * B, -1]);
  });
  const e = encoded.length === 1 ? encoded[0] : tf.concat(encoded, 1);
  return tf.reshape(e, [T, B, e.shape[1] as number]) as tf.Tensor3D;
}
