/**
 * One ConvLSTM layer (Shi et al., 2015) over a whole TBPTT window, in the lecture's
 * form (* convolution, ⊙ Hadamard product, W_c· of the state's shape):
 *
 *   i_t = σ(W_xi * x_t + W_hi * h_{t−1} + W_ci ⊙ C_{t−1} + b_i)
 *   f_t = σ(W_xf * x_t + W_hf * h_{t−1} + W_cf ⊙ C_{t−1} + b_f)
 *   C̃_t = tanh(W_xc * x_t + W_hc * h_{t−1} + b_c)
 *   C_t = f_t ⊙ C_{t−1} + i_t ⊙ C̃_t
 *   o_t = σ(W_xo * x_t + W_ho * h_{t−1} + W_co ⊙ C_t + b_o)      (C_t, not C_{t−1}: the paper's and the slide's o_t)
 *   h_t = o_t ⊙ tanh(C_t)
 *
 * Every convolution is 'same', stride 1, so h_t and C_t keep the frame's height and
 * width with `filters` channels.
 *
 * Tensors (per layer k; OIHW like nn.Conv2d, gate blocks i, f, g = C̃, o like nn.LSTM):
 *   convlstm.weight_ih_l{k}  [4F, C_k, Kh, Kw]   W_x· (C_0 = frame channels, C_k = F above)
 *   convlstm.weight_hh_l{k}  [4F, F, Kh, Kw]     W_h·
 *   convlstm.bias_l{k}       [4F]                b_·
 *   convlstm.weight_c_l{k}   [3, F, Hh, Ww]      W_ci, W_cf, W_co (Hadamard peepholes)
 *
 * Two implementations of the same layer, chosen by convLstmStack's `implementation`:
 *
 *   fused (conv-lstm-window.ts, the default): one tf.customGrad per layer and window,
 *     gate arithmetic and hand-written BPTT on Float32Arrays, every product through the
 *     network kernel's Gemm (native BLAS or the tfjs backend).
 *   taped (convLstmTaped, below): tfjs ops that tfjs differentiates — the autodiff
 *     reference the fused op is tested against. Convolutions as im2col + matMul
 *     (im2col.ts): the input-to-state convolutions of all T·B frames are ONE product
 *     (xProj = patches(X) · W_x + b); each step adds one product of h_{t−1}'s patches
 *     with W_h and the gate arithmetic. Every op has a gradient kernel on cpu, wasm and
 *     tensorflow — wasm has no Conv2DBackpropFilter, and neither path needs one.
 *
 * State layout (HiddenState arrays, what TBPTT carries): h and C of B streams as
 * [B, Hh, Ww, F] row-major (NHWC), B·Hh·Ww·F values each.
 */
import { tf } from '../tf';
import { conv2dSame, filterMatrix, im2col } from './im2col';

export interface ConvLstmWeights {
  /** [4F, C, Kh, Kw] */
  wIh: tf.Tensor4D;
  /** [4F, F, Kh, Kw] */
  wHh: tf.Tensor4D;
  /** [4F] */
  bias: tf.Tensor1D;
  /** [3, F, Hh, Ww]: W_ci, W_cf, W_co */
  wC: tf.Tensor4D;
}

export interface ConvLstmInitial {
  /** [B, Hh, Ww, F] */
  h: tf.Tensor4D;
  /** [B, Hh, Ww, F] */
  c: tf.Tensor4D;
}

export interface ConvLstmLayerOutput {
  /** h_t of every step, [T, B, Hh, Ww, F]. */
  y: tf.Tensor5D;
  hT: tf.Tensor4D;
  cT: tf.Tensor4D;
  /** h and C after step carryAt (0-based), detached host copies, [B, Hh, Ww, F] each. */
  carry: { h: Float32Array; c: Float32Array };
}

export class ConvLstmShapeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'ConvLstmShapeError';
  }
}

/** Checks every operand's shape against x's and weight_ih's; throws ConvLstmShapeError naming the tensor. */
export function checkConvLstmShapes(w: ConvLstmWeights, x: tf.Tensor5D, initial: ConvLstmInitial): void {
  const [, B, Hh, Ww, C] = x.shape;
  const [gf, , kh, kw] = w.wIh.shape;
  const F = gf / 4;
  const want = (name: string, got: readonly number[], exp: number[]) => {
    if (got.length !== exp.length || got.some((v, i) => v !== exp[i])) throw new ConvLstmShapeError(`ConvLSTM layer expects ${name} [${exp}], got [${got}]`);
  };
  if (!Number.isInteger(F)) throw new ConvLstmShapeError(`ConvLSTM layer expects weight_ih with 4·F output channels, got [${w.wIh.shape}]`);
  want('weight_ih (x has C channels)', w.wIh.shape, [4 * F, C, kh, kw]);
  want('weight_hh', w.wHh.shape, [4 * F, F, kh, kw]);
  want('bias', w.bias.shape, [4 * F]);
  want('weight_c', w.wC.shape, [3, F, Hh, Ww]);
  want('initial h', initial.h.shape, [B, Hh, Ww, F]);
  want('initial c', initial.c.shape, [B, Hh, Ww, F]);
}

/** carryAt, or T − 1 when absent; throws ConvLstmShapeError when it is not a step of the window. */
export function checkCarryAt(carryAt: number | undefined, T: number): number {
  const at = carryAt ?? T - 1;
  if (!Number.isInteger(at) || at < 0 || at >= T) throw new ConvLstmShapeError(`carryAt must be a step in [0, ${T - 1}], got ${carryAt}`);
  return at;
}

/** Runs one ConvLSTM layer over x [T, B, Hh, Ww, C] as taped tfjs ops; call inside tf.tidy / tf.variableGrads. */
export function convLstmTaped(w: ConvLstmWeights, x: tf.Tensor5D, initial: ConvLstmInitial, carryAt?: number): ConvLstmLayerOutput {
  checkConvLstmShapes(w, x, initial);
  const [T, B, Hh, Ww, C] = x.shape;
  const F = w.wHh.shape[1];
  const [, , kh, kw] = w.wHh.shape;
  const at = checkCarryAt(carryAt, T);
  const P = Hh * Ww;
  // All input-to-state convolutions of the window in one product: [T, B·P, 4F].
  const xProj = tf.reshape(tf.add(conv2dSame(tf.reshape(x, [T * B, Hh, Ww, C]), w.wIh), w.bias), [T, B * P, 4 * F]);
  const steps = tf.unstack(xProj) as tf.Tensor2D[];
  const whMat = filterMatrix(w.wHh);
  // Peepholes as [1, P, F] each, broadcast over the B streams.
  const [wci, wcf, wco] = tf.split(tf.reshape(tf.transpose(w.wC, [0, 2, 3, 1]), [3, 1, P, F]), 3, 0).map((p) => tf.reshape(p, [1, P, F]));
  let h = initial.h;
  let c = tf.reshape(initial.c, [B, P, F]) as tf.Tensor3D;
  const hs: tf.Tensor4D[] = [];
  let carry: { h: Float32Array; c: Float32Array } | undefined;
  for (let t = 0; t < T; t++) {
    const pre = tf.add(steps[t], tf.matMul(im2col(h, { kh, kw }), whMat));
    const [pi, pf, pg, po] = tf.split(pre, 4, 1).map((g) => tf.reshape(g, [B, P, F]));
    const i = tf.sigmoid(tf.add(pi, tf.mul(wci, c)));
    const f = tf.sigmoid(tf.add(pf, tf.mul(wcf, c)));
    const g = tf.tanh(pg);
    c = tf.add(tf.mul(f, c), tf.mul(i, g)) as tf.Tensor3D;
    const o = tf.sigmoid(tf.add(po, tf.mul(wco, c)));
    h = tf.reshape(tf.mul(o, tf.tanh(c)), [B, Hh, Ww, F]) as tf.Tensor4D;
    hs.push(h);
    if (t === at) carry = { h: Float32Array.from(h.dataSync() as Float32Array), c: Float32Array.from(c.dataSync() as Float32Array) };
  }
  return { y: tf.stack(hs) as tf.Tensor5D, hT: h, cT: tf.reshape(c, [B, Hh, Ww, F]) as tf.Tensor4D, carry: carry as { h: Float32Array; c: Float32Array } };
}
