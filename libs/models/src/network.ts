/**
 * A stacked recurrent network in the layout of PyTorch's word_language_model
 * `RNNModel` (encoder → rnn → decoder), so its weights load into that model:
 *
 *   encoder.weight      [V, E]        token embedding (token input only)
 *   rnn.weight_ih_l{k}  [G·H, I_k]    I_0 = E (or the dense input size), I_k = D·H above
 *   rnn.weight_hh_l{k}  [G·H, H]
 *   rnn.bias_ih_l{k}    [G·H]
 *   rnn.bias_hh_l{k}    [G·H]
 *   rnn.weight_ch_l{k}  [P·H, H]      peephole LSTM only (no PyTorch counterpart)
 *   rnn.*_l{k}_reverse                bidirectional only: the same four (five) for the
 *                                     backward direction, after the forward ones of layer k
 *   decoder.weight      [O, D·H]      linear output head
 *   decoder.bias        [O]
 *
 * G = 1 (RNN), 4 (LSTM, gates i,f,g,o; 3 with coupled gates, f,g,o) or 3 (GRU,
 * gates r,z,n); P = 3 or 2 peephole blocks (cells/cell-config.ts); D = 2 when
 * bidirectional, else 1. These are nn.LSTM/GRU/RNN(bidirectional=True)'s names and
 * layouts, so a plain-cell bidirectional checkpoint loads with load_state_dict.
 * Initialisation follows RNNModel.init_weights (encoder and decoder U(−0.1, 0.1),
 * decoder bias 0) and nn.LSTM/GRU/RNN.reset_parameters (every rnn tensor
 * U(−1/√H, 1/√H)). With `forgetBias` b (LSTM only) the f block of bias_ih and of
 * bias_hh each start at b / 2 instead, so the gate's effective bias b_ih + b_hh is b
 * (the f block is gate block 1 of i,f,g,o, block 0 of the coupled f,g,o).
 *
 * Bidirectional and deep bidirectional RNN (the lecture's equations, any cell f):
 *   s^f(1)_t = f(U^f(1) x_t + W^f(1) s^f(1)_{t−1} + b^f(1))
 *   s^b(1)_t = f(U^b(1) x_t + W^b(1) s^b(1)_{t+1} + b^b(1))
 *   s^f(l)_t = f(U^ff(l) s^f(l−1)_t + U^fb(l) s^b(l−1)_t + W^f(l) s^f(l)_{t−1} + b^f(l))
 *   s^b(l)_t = f(U^bf(l) s^f(l−1)_t + U^bb(l) s^b(l−1)_t + W^b(l) s^b(l)_{t+1} + b^b(l))
 *   y_t      = V^f(L) s^f(L)_t + V^b(L) s^b(L)_t + c        (softmax in the loss)
 * (the slide writes s^b(l)_{t−1} in the deep backward line; the backward direction
 * runs from the end, so it is s^b(l)_{t+1}, as in its first-layer line). Layer l's
 * input is [s^f(l−1)_t, s^b(l−1)_t], so [U^ff U^fb] is weight_ih_l{l} and
 * [V^f V^b] is decoder.weight, PyTorch's concatenation order. The backward
 * direction is the plain fused window op run on the time-reversed input, its
 * output reversed back: each direction is still one fused op.
 *
 * State across TBPTT windows: the backward direction's state at a window's end is
 * s^b_{t+1} — it depends on steps after the window, which are not read yet — so it
 * cannot be carried. A bidirectional network therefore hands back a ZERO carry:
 * every window is an independent sequence (whole short sequences, or a
 * bidirectional encoder inside a window); the spec requires
 * tbptt.independentWindows with stride = window for it. Its state holds D·L
 * entries in PyTorch's h_n order (layer k forward at 2k, backward at 2k + 1); the
 * backward entry is its initial state at the window's last step.
 *
 * Convolutional forms (conv/): `cnn` puts a per-frame CNN encoder (one or several
 * heads, cnn.* tensors) between the dense input and layer 0, whose input is then
 * the encoding; `convLstm` replaces the fully-connected layers by ConvLSTM layers
 * (convlstm.* tensors, hidden = Hh·Ww·F, top handed out as per-pixel rows so the
 * decoder is a 1×1 convolution — see conv/conv-lstm-network.ts).
 */
import { tf } from './tf';
import { describeCell, gateCount, hasCellState, peepholeCount, type CellConfig } from './cells';
import { embeddingLookup } from './embedding';
import { Rng } from './rng';
import { recurrentLayer, type HiddenState, type LayerWeights } from './window-op';
import type { Gemm } from './gemm';
import type { WindowKernel } from './kernel';
import { cnnEncode, cnnOutputSize, cnnParameterSpecs, convInitialValues, convLstmParameterSpecs, convLstmStack, convLstmStateSize, type CnnEncoderConfig, type ConvLstmConfig } from './conv';

export type InputConfig = { kind: 'tokens'; vocabSize: number; embedding: number } | { kind: 'dense'; size: number };

export interface NetworkConfig {
  cell: CellConfig;
  input: InputConfig;
  hidden: number;
  /** @defaultValue 1 */
  layers: number;
  /** Output size: the vocabulary for a language model, the target size for regression. */
  outputSize: number;
  /**
   * A backward direction beside the forward one in every layer (see the file comment).
   * @defaultValue false — a causal network whose state carries across TBPTT windows
   */
  bidirectional?: boolean;
  /**
   * LSTM only: the initial forget-gate bias b. The f blocks of rnn.bias_ih_l{k} and
   * rnn.bias_hh_l{k} (every layer, both directions) each start at b / 2, so the sum the
   * gate sees is b (Jozefowicz et al. 2015 use 1: f starts near σ(1) ≈ 0.73 and the
   * cell state, with the gradient through it, is kept across steps rather than halved).
   * @defaultValue absent — nn.LSTM's initialisation: the f bias is U(−1/√H, 1/√H) like every bias
   */
  forgetBias?: number;
  /**
   * A per-frame CNN encoder (one head or one per sensor series) before layer 0; dense input only.
   * @defaultValue absent — the dense input feeds layer 0 directly
   */
  cnn?: CnnEncoderConfig;
  /**
   * ConvLSTM layers instead of fully-connected ones (`cell` must be a plain lstm and
   * `hidden` = convLstmStateSize); dense input only. @defaultValue absent
   */
  convLstm?: ConvLstmConfig;
}

/** Directions per layer: 2 when bidirectional, else 1. */
export function directions(cfg: Pick<NetworkConfig, 'bidirectional'>): number {
  return cfg.bidirectional ? 2 : 1;
}

/** Name suffix of direction d: '' forward, '_reverse' backward (PyTorch's). */
export function directionSuffix(d: number): string {
  return d === 0 ? '' : '_reverse';
}

/** One window of input, time-major. */
export type WindowInput = { kind: 'tokens'; ids: Int32Array; T: number; B: number } | { kind: 'dense'; x: Float32Array; T: number; B: number };

/** The recurrent state of every layer for B streams. */
export type NetworkState = HiddenState[];

export interface ParameterSpec {
  name: string;
  shape: number[];
}

export interface ForwardOptions {
  /** Step whose state is returned as `carry` (TBPTT stride − 1). @defaultValue T − 1 */
  carryAt?: number;
  /** Receives ‖∂L/∂h_t‖ per step for each layer (the forward direction) when gradients are computed. */
  onFlow?: (layer: number, flow: Float64Array) => void;
  /** Bidirectional: ‖∂L/∂s^b_t‖ of each layer's backward direction, t in time order. */
  onReverseFlow?: (layer: number, flow: Float64Array) => void;
  gemm?: Gemm;
  /** Who runs the window ops (selectKernel). @defaultValue the tfjs path */
  kernel?: WindowKernel;
}

export interface NetworkOptions {
  /**
   * Who runs the window ops of every forward that does not name its own
   * (selectKernel: native or tfjs). @defaultValue the tfjs path
   */
  kernel?: WindowKernel;
}

export interface NetworkOutput {
  /**
   * Top layer's hidden states, [T, B, D·H] (forward then backward direction); for a
   * ConvLSTM network per-pixel rows [T, B·Hh·Ww, F].
   */
  top: tf.Tensor3D;
  carry: NetworkState;
}

let nextNetworkId = 0;

export function parameterSpecs(cfg: NetworkConfig): ParameterSpec[] {
  if (cfg.convLstm) {
    const expected = convLstmStateSize(cfg.convLstm);
    if (cfg.hidden !== expected) throw new RangeError(`a ConvLSTM network's hidden must be Hh·Ww·F = ${expected}, got ${cfg.hidden}`);
    if (cfg.cell.kind !== 'lstm' || cfg.cell.peepholes || cfg.cell.coupledGates || cfg.bidirectional || cfg.cnn || cfg.input.kind !== 'dense') {
      throw new RangeError('a ConvLSTM network takes dense frames, cell lstm without variants, no cnn and no backward direction');
    }
    return [...convLstmParameterSpecs(cfg.convLstm, cfg.layers), { name: 'decoder.weight', shape: [cfg.outputSize / (cfg.convLstm.frame.height * cfg.convLstm.frame.width), cfg.convLstm.filters] }, { name: 'decoder.bias', shape: [cfg.outputSize / (cfg.convLstm.frame.height * cfg.convLstm.frame.width)] }];
  }
  const G = gateCount(cfg.cell);
  const P = peepholeCount(cfg.cell);
  const H = cfg.hidden;
  const D = directions(cfg);
  const specs: ParameterSpec[] = [];
  if (cfg.input.kind === 'tokens') specs.push({ name: 'encoder.weight', shape: [cfg.input.vocabSize, cfg.input.embedding] });
  if (cfg.cnn) {
    if (cfg.input.kind !== 'dense') throw new RangeError('a CNN encoder reads dense frames, not token ids');
    specs.push(...cnnParameterSpecs(cfg.cnn));
  }
  for (let k = 0; k < cfg.layers; k++) {
    const inSize = k > 0 ? D * H : cfg.input.kind === 'tokens' ? cfg.input.embedding : cfg.cnn ? cnnOutputSize(cfg.cnn) : cfg.input.size;
    for (let d = 0; d < D; d++) {
      const sfx = `l${k}${directionSuffix(d)}`;
      specs.push({ name: `rnn.weight_ih_${sfx}`, shape: [G * H, inSize] });
      specs.push({ name: `rnn.weight_hh_${sfx}`, shape: [G * H, H] });
      specs.push({ name: `rnn.bias_ih_${sfx}`, shape: [G * H] });
      specs.push({ name: `rnn.bias_hh_${sfx}`, shape: [G * H] });
      if (P > 0) specs.push({ name: `rnn.weight_ch_${sfx}`, shape: [P * H, H] });
    }
  }
  specs.push({ name: 'decoder.weight', shape: [cfg.outputSize, D * H] });
  specs.push({ name: 'decoder.bias', shape: [cfg.outputSize] });
  return specs;
}

function initialValues(spec: ParameterSpec, cfg: NetworkConfig, rng: Rng): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const conv = convInitialValues(spec, (lo, hi) => rng.uniform(lo, hi));
  if (conv) return conv;
  const out = new Float32Array(n);
  if (spec.name === 'decoder.bias') return out;
  const H = cfg.hidden;
  const bound = spec.name.startsWith('rnn.') ? 1 / Math.sqrt(H) : 0.1;
  for (let i = 0; i < n; i++) out[i] = rng.uniform(-bound, bound);
  // The draws above still happen, so the rng (and every other tensor) is the same with or without forgetBias.
  if (cfg.forgetBias !== undefined && /^rnn\.bias_(ih|hh)_/.test(spec.name)) {
    const f = forgetBlock(cfg.cell, cfg.forgetBias);
    out.fill(cfg.forgetBias / 2, f * H, (f + 1) * H);
  }
  return out;
}

/** Index of the f block among an LSTM's gate blocks: 1 of i,f,g,o; 0 of the coupled f,g,o. Checks forgetBias too. */
function forgetBlock(cell: CellConfig, forgetBias: number): number {
  if (cell.kind !== 'lstm') throw new RangeError(`forgetBias needs an lstm cell, got ${cell.kind}`);
  if (!Number.isFinite(forgetBias)) throw new RangeError(`forgetBias must be a finite number, got ${forgetBias}`);
  return cell.coupledGates ? 0 : 1;
}

export class RecurrentNetwork {
  /** Parameters by PyTorch name, in parameterSpecs order. */
  readonly params: ReadonlyMap<string, tf.Variable>;
  readonly specs: readonly ParameterSpec[];

  /** The window kernel forward uses unless told otherwise. */
  readonly kernel?: WindowKernel;

  constructor(
    readonly config: NetworkConfig,
    rng: Rng,
    opts: NetworkOptions = {},
  ) {
    this.kernel = opts.kernel;
    if (!Number.isInteger(config.layers) || config.layers < 1) throw new RangeError(`layers must be a positive integer, got ${config.layers}`);
    if (config.forgetBias !== undefined) forgetBlock(config.cell, config.forgetBias);
    const id = nextNetworkId++;
    this.specs = parameterSpecs(config);
    const params = new Map<string, tf.Variable>();
    for (const spec of this.specs) {
      const initial = tf.tensor(initialValues(spec, config, rng), spec.shape);
      params.set(spec.name, tf.variable(initial, true, `net${id}/${spec.name}`));
      initial.dispose();
    }
    this.params = params;
  }

  get description(): string {
    const c = this.config;
    const input = c.input.kind === 'tokens' ? `embedding ${c.input.vocabSize}×${c.input.embedding}` : `dense ${c.input.size}`;
    if (c.convLstm) {
      const { frame: f, filters, kernel } = c.convLstm;
      return `convlstm ×${c.layers}, ${filters} filters, kernel ${kernel}, frames ${f.height}×${f.width}×${f.channels}, output ${c.outputSize}`;
    }
    if (c.cnn) {
      const { frame: f, filters, heads } = c.cnn;
      return `cnn(${heads ?? 1} head${(heads ?? 1) > 1 ? 's' : ''}, filters ${filters.join('-')}, frames ${f.height}×${f.width}×${f.channels}) → ${describeCell(c.cell)} ×${c.layers}, hidden ${c.hidden}, output ${c.outputSize}`;
    }
    return `${c.bidirectional ? 'bidirectional ' : ''}${describeCell(c.cell)} ×${c.layers}, hidden ${c.hidden}, ${input}, output ${c.outputSize}`;
  }

  param(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`network has no parameter ${name}`);
    return v;
  }

  /** Zero state for B streams: D·L entries, PyTorch's h_n order (layer k forward at D·k). */
  zeroState(B: number): NetworkState {
    const n = B * this.config.hidden;
    const withC = hasCellState(this.config.cell);
    return Array.from({ length: this.config.layers * directions(this.config) }, () => ({ h: new Float32Array(n), c: withC ? new Float32Array(n) : undefined }));
  }

  /** Weights of layer k in direction d (0 forward, 1 backward). @defaultValue d = 0 */
  layerWeights(k: number, d = 0): LayerWeights {
    const sfx = `l${k}${directionSuffix(d)}`;
    return {
      wIh: this.param(`rnn.weight_ih_${sfx}`) as tf.Variable<tf.Rank.R2>,
      wHh: this.param(`rnn.weight_hh_${sfx}`) as tf.Variable<tf.Rank.R2>,
      bIh: this.param(`rnn.bias_ih_${sfx}`) as tf.Variable<tf.Rank.R1>,
      bHh: this.param(`rnn.bias_hh_${sfx}`) as tf.Variable<tf.Rank.R1>,
      wCh: peepholeCount(this.config.cell) > 0 ? (this.param(`rnn.weight_ch_${sfx}`) as tf.Variable<tf.Rank.R2>) : undefined,
    };
  }

  /** Runs every layer over the window; call inside tf.tidy / tf.variableGrads. */
  forward(input: WindowInput, state: NetworkState, opts: ForwardOptions = {}): NetworkOutput {
    const { T, B } = input;
    const H = this.config.hidden;
    const D = directions(this.config);
    if (state.length !== this.config.layers * D) {
      throw new RangeError(`state has ${state.length} entries, network has ${this.config.layers} layers${D === 2 ? ' × 2 directions' : ''}`);
    }
    let x: tf.Tensor3D;
    const convLstm = this.config.convLstm;
    if (convLstm) {
      if (input.kind !== 'dense') throw new TypeError('a ConvLSTM network takes dense frames, got token ids');
      const stack = convLstmStack(convLstm, this.config.layers, (name) => this.param(name), tf.tensor3d(input.x, [T, B, input.x.length / (T * B)]), state, { carryAt: opts.carryAt, gemm: opts.gemm, kernel: opts.kernel ?? this.kernel });
      return { top: stack.top, carry: stack.carry };
    }
    if (input.kind === 'tokens') {
      if (this.config.input.kind !== 'tokens') throw new TypeError('network takes dense input, got token ids');
      if (input.ids.length !== T * B) throw new RangeError(`expected T·B = ${T * B} token ids, got ${input.ids.length}`);
      // A native window kernel reads x on the host: the lookup copies the rows there too.
      x = embeddingLookup(this.param('encoder.weight') as tf.Variable<tf.Rank.R2>, input.ids, [T, B], { onHost: (opts.kernel ?? this.kernel)?.name === 'native' }) as tf.Tensor3D;
    } else {
      if (this.config.input.kind !== 'dense') throw new TypeError('network takes token ids, got dense input');
      const I = this.config.input.size;
      if (input.x.length !== T * B * I) throw new RangeError(`expected T·B·I = ${T * B * I} input values, got ${input.x.length}`);
      x = tf.tensor3d(input.x, [T, B, I]);
      if (this.config.cnn) x = cnnEncode(this.config.cnn, (name) => this.param(name), x);
    }
    const carry: NetworkState = [];
    const kernel = opts.kernel ?? this.kernel;
    const initialOf = (s: HiddenState) => ({ h: tf.tensor2d(s.h, [B, H]), c: s.c ? tf.tensor2d(s.c, [B, H]) : undefined });
    for (let k = 0; k < this.config.layers; k++) {
      const fwd = recurrentLayer(this.config.cell, this.layerWeights(k, 0), x, initialOf(state[D * k]), {
        carryAt: opts.carryAt,
        gemm: opts.gemm,
        kernel,
        onFlow: opts.onFlow ? (flow) => opts.onFlow?.(k, flow) : undefined,
      });
      if (D === 1) {
        carry.push(fwd.carry);
        x = fwd.y;
        continue;
      }
      // s^b_t reads s^b_{t+1}: the same fused op over the time-reversed input.
      const bwd = recurrentLayer(this.config.cell, this.layerWeights(k, 1), tf.reverse(x, 0), initialOf(state[D * k + 1]), {
        gemm: opts.gemm,
        kernel,
        onFlow: opts.onReverseFlow ? (flow) => opts.onReverseFlow?.(k, flow.slice().reverse()) : undefined,
      });
      x = tf.concat([fwd.y, tf.reverse(bwd.y, 0)], 2);
      // Nothing crosses a window boundary (see the file comment): a zero carry.
      carry.push(...this.zeroState(B).slice(D * k, D * k + 2));
    }
    return { top: x, carry };
  }

  /** Parameter values by name (copies). */
  snapshot(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.params) out.set(name, Float32Array.from(v.dataSync() as Float32Array));
    return out;
  }

  /** Replaces every parameter's value; shapes must match exactly. */
  load(values: ReadonlyMap<string, Float32Array>): void {
    for (const spec of this.specs) {
      const data = values.get(spec.name);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (!data) throw new Error(`missing parameter ${spec.name}`);
      if (data.length !== n) throw new RangeError(`parameter ${spec.name} expects ${n} values [${spec.shape}], got ${data.length}`);
      const t = tf.tensor(data, spec.shape);
      this.param(spec.name).assign(t);
      t.dispose();
    }
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }
}
