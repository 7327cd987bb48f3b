/**
 * A stacked recurrent network in the layout of PyTorch's word_language_model
 * `RNNModel` (encoder → rnn → decoder), so its weights load into that model:
 *
 *   encoder.weight      [V, E]        token embedding (token input only)
 *   rnn.weight_ih_l{k}  [G·H, I_k]    I_0 = E (or the dense input size), I_k = H above
 *   rnn.weight_hh_l{k}  [G·H, H]
 *   rnn.bias_ih_l{k}    [G·H]
 *   rnn.bias_hh_l{k}    [G·H]
 *   decoder.weight      [O, H]        linear output head
 *   decoder.bias        [O]
 *
 * G = 1 (RNN), 4 (LSTM, gates i,f,g,o) or 3 (GRU, gates r,z,n). Initialisation
 * follows RNNModel.init_weights (encoder and decoder U(−0.1, 0.1), decoder bias 0)
 * and nn.LSTM/GRU/RNN.reset_parameters (every rnn tensor U(−1/√H, 1/√H)).
 */
import { tf } from './tf';
import { describeCell, gateCount, hasCellState, type CellConfig } from './cells';
import { embeddingLookup } from './embedding';
import { Rng } from './rng';
import { recurrentLayer, type HiddenState, type LayerWeights } from './window-op';
import type { Gemm } from './gemm';
import type { WindowKernel } from './kernel';

export type InputConfig = { kind: 'tokens'; vocabSize: number; embedding: number } | { kind: 'dense'; size: number };

export interface NetworkConfig {
  cell: CellConfig;
  input: InputConfig;
  hidden: number;
  /** @defaultValue 1 */
  layers: number;
  /** Output size: the vocabulary for a language model, the target size for regression. */
  outputSize: number;
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
  /** Receives ‖∂L/∂h_t‖ per step for each layer when gradients are computed. */
  onFlow?: (layer: number, flow: Float64Array) => void;
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
  /** Top layer's hidden states, [T, B, H]. */
  top: tf.Tensor3D;
  carry: NetworkState;
}

let nextNetworkId = 0;

export function parameterSpecs(cfg: NetworkConfig): ParameterSpec[] {
  const G = gateCount(cfg.cell);
  const H = cfg.hidden;
  const specs: ParameterSpec[] = [];
  if (cfg.input.kind === 'tokens') specs.push({ name: 'encoder.weight', shape: [cfg.input.vocabSize, cfg.input.embedding] });
  for (let k = 0; k < cfg.layers; k++) {
    const inSize = k > 0 ? H : cfg.input.kind === 'tokens' ? cfg.input.embedding : cfg.input.size;
    specs.push({ name: `rnn.weight_ih_l${k}`, shape: [G * H, inSize] });
    specs.push({ name: `rnn.weight_hh_l${k}`, shape: [G * H, H] });
    specs.push({ name: `rnn.bias_ih_l${k}`, shape: [G * H] });
    specs.push({ name: `rnn.bias_hh_l${k}`, shape: [G * H] });
  }
  specs.push({ name: 'decoder.weight', shape: [cfg.outputSize, H] });
  specs.push({ name: 'decoder.bias', shape: [cfg.outputSize] });
  return specs;
}

function initialValues(spec: ParameterSpec, hidden: number, rng: Rng): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (spec.name === 'decoder.bias') return out;
  const bound = spec.name.startsWith('rnn.') ? 1 / Math.sqrt(hidden) : 0.1;
  for (let i = 0; i < n; i++) out[i] = rng.uniform(-bound, bound);
  return out;
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
    const id = nextNetworkId++;
    this.specs = parameterSpecs(config);
    const params = new Map<string, tf.Variable>();
    for (const spec of this.specs) {
      const initial = tf.tensor(initialValues(spec, config.hidden, rng), spec.shape);
      params.set(spec.name, tf.variable(initial, true, `net${id}/${spec.name}`));
      initial.dispose();
    }
    this.params = params;
  }

  get description(): string {
    const c = this.config;
    const input = c.input.kind === 'tokens' ? `embedding ${c.input.vocabSize}×${c.input.embedding}` : `dense ${c.input.size}`;
    return `${describeCell(c.cell)} ×${c.layers}, hidden ${c.hidden}, ${input}, output ${c.outputSize}`;
  }

  param(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`network has no parameter ${name}`);
    return v;
  }

  zeroState(B: number): NetworkState {
    const n = B * this.config.hidden;
    const withC = hasCellState(this.config.cell);
    return Array.from({ length: this.config.layers }, () => ({ h: new Float32Array(n), c: withC ? new Float32Array(n) : undefined }));
  }

  layerWeights(k: number): LayerWeights {
    return {
      wIh: this.param(`rnn.weight_ih_l${k}`) as tf.Variable<tf.Rank.R2>,
      wHh: this.param(`rnn.weight_hh_l${k}`) as tf.Variable<tf.Rank.R2>,
      bIh: this.param(`rnn.bias_ih_l${k}`) as tf.Variable<tf.Rank.R1>,
      bHh: this.param(`rnn.bias_hh_l${k}`) as tf.Variable<tf.Rank.R1>,
    };
  }

  /** Runs every layer over the window; call inside tf.tidy / tf.variableGrads. */
  forward(input: WindowInput, state: NetworkState, opts: ForwardOptions = {}): NetworkOutput {
    const { T, B } = input;
    const H = this.config.hidden;
    if (state.length !== this.config.layers) throw new RangeError(`state has ${state.length} layers, network has ${this.config.layers}`);
    let x: tf.Tensor3D;
    if (input.kind === 'tokens') {
      if (this.config.input.kind !== 'tokens') throw new TypeError('network takes dense input, got token ids');
      if (input.ids.length !== T * B) throw new RangeError(`expected T·B = ${T * B} token ids, got ${input.ids.length}`);
      x = embeddingLookup(this.param('encoder.weight') as tf.Variable<tf.Rank.R2>, input.ids, [T, B]) as tf.Tensor3D;
    } else {
      if (this.config.input.kind !== 'dense') throw new TypeError('network takes token ids, got dense input');
      const I = this.config.input.size;
      if (input.x.length !== T * B * I) throw new RangeError(`expected T·B·I = ${T * B * I} input values, got ${input.x.length}`);
      x = tf.tensor3d(input.x, [T, B, I]);
    }
    const carry: NetworkState = [];
    for (let k = 0; k < this.config.layers; k++) {
      const s = state[k];
      const initial = { h: tf.tensor2d(s.h, [B, H]), c: s.c ? tf.tensor2d(s.c, [B, H]) : undefined };
      const out = recurrentLayer(this.config.cell, this.layerWeights(k), x, initial, {
        carryAt: opts.carryAt,
        gemm: opts.gemm,
        kernel: opts.kernel ?? this.kernel,
        onFlow: opts.onFlow ? (flow) => opts.onFlow?.(k, flow) : undefined,
      });
      carry.push(out.carry);
      x = out.y;
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
