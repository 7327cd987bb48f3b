/**
 * `spec.model`: the recurrent network, discriminated on `cell`.
 *
 *   rnn   h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh | relu
 *   lstm  i, f, g, o gates; c_t = f ⊙ c_{t-1} + i ⊙ g; h_t = o ⊙ tanh(c_t)
 *   gru   r, z, n gates; h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}, where the candidate is
 *           reset-after:  n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))   (cuDNN, PyTorch)
 *           reset-before: n = tanh(W_in x_t + b_in + W_hn (r ⊙ h_{t-1}) + b_hn)   (the lecture's form)
 *
 *   lstm variants (the lecture's "Variants on LSTM"):
 *     peepholes: true     every gate reads C_{t-1} too: f_t = σ(W_f·[C_{t-1}, h_{t-1}, x_t] + b_f),
 *                         likewise i_t and o_t (extra weight rnn.weight_ch_l{k})
 *     coupledGates: true  input gate = 1 - forget gate: C_t = f ⊙ C_{t-1} + (1 - f) ⊙ C̃_t
 *   lstm initialisation:
 *     forgetBias: b       the forget gate's bias starts at b instead of U(-1/√H, 1/√H), so f_t starts
 *                         near σ(b) and the cell state (and the gradient through it) is kept rather than
 *                         halved each step (Gers et al. 2000; Jozefowicz et al. 2015 recommend 1).
 *                         PyTorch's layout has two biases, b_ih and b_hh, each with an f block, and
 *                         the gate sees their sum: each f block starts at b / 2, so the sum is b.
 *   bidirectional: true   every layer adds a backward direction s^b_t = f(…, s^b_{t+1}); layer l
 *     reads both directions of layer l-1 and the output reads both of the last layer. It
 *     needs tbptt.independentWindows (see experiment-schema.ts): a backward direction's
 *     state at a window's end depends on steps after the window, so it cannot be carried.
 *
 *   convlstm (Shi et al., 2015) convolutional input-to-state and state-to-state transitions
 *     with Hadamard peepholes: i_t = σ(W_xi * x_t + W_hi * h_{t-1} + W_ci ⊙ C_{t-1} + b_i), f_t
 *     likewise, o_t = σ(W_xo * x_t + W_ho * h_{t-1} + W_co ⊙ C_t + b_o); 'same' padding, `filters`
 *     channels of h and C in every layer, a `kernel` × `kernel` kernel; each step's dense input is
 *     one `frame` (NHWC-flattened) and the output is per pixel (a 1×1 convolution).
 *   cnn (rnn, lstm, gru)  CNN + RNN: a per-frame CNN encoder before the first layer, one head
 *     or one per channel group (sensor series), the heads' feature maps concatenated.
 *
 * The boolean options are optional and absent means false; they are left out of the
 * parsed spec when absent, so specs written before they existed keep their hash and
 * their checkpoints still resume.
 * A variant option on the wrong cell (`activation` on an LSTM) is an error, not ignored.
 * Whether `embedding` is needed depends on the dataset; that rule lives in the experiment schema.
 */
import { z } from 'zod';
import { bool, exactly, forbidden, intAtLeast, numberIn, oneOf } from './field-builders';

const frameSchema = z
  .strictObject({
    height: intAtLeast(1).describe('Frame height in pixels.'),
    width: intAtLeast(1).describe('Frame width in pixels (samples, for a sensor series).'),
    channels: intAtLeast(1).describe('Channels per pixel (sensors, for sensor series).'),
  })
  .describe('One time step of dense input as a frame: height × width × channels values, channels last.');

const kernelSchema = z.union([intAtLeast(1), z.tuple([intAtLeast(1), intAtLeast(1)])]);

const cnnSchema = z
  .strictObject({
    frame: frameSchema,
    /** Output channels of each convolution layer of a head. No default: the encoder's size. */
    filters: z.array(intAtLeast(1)).min(1).describe('Output channels of each convolution layer of a head.'),
    /** @defaultValue 3 — the smallest kernel that sees every neighbour */
    kernel: kernelSchema.default(3).describe('Kernel size, or [height, width]. Default: 3.'),
    /** @defaultValue 1 — no pooling */
    pool: kernelSchema.default(1).describe('Max-pooling window after each layer, or [height, width]. Default: 1 (none).'),
    /** @defaultValue 1 — one CNN over the whole frame */
    heads: intAtLeast(1).default(1).describe('Independent CNN heads, each over channels / heads channels (one per sensor series). Default: 1.'),
  })
  .describe('CNN + RNN: a CNN encoder applied to each frame before the first recurrent layer.');

/** Fields every cell has. */
const layerSizes = {
  /**
   * Embedding size for token inputs: required with dataset text, not allowed with
   * dataset sequence (dense inputs feed the first layer directly). No default: it is a
   * modelling choice.
   */
  embedding: intAtLeast(1).optional().describe('Embedding size for token inputs; required with dataset text, not allowed otherwise.'),
  /** Size of the hidden state of every layer. No default: it is the model's main size knob. */
  hidden: intAtLeast(1).describe('Size of the hidden state of every layer.'),
  /**
   * Stacked recurrent layers.
   * @defaultValue 1 — the smallest network that learns; stack deliberately.
   */
  layers: intAtLeast(1).default(1).describe('Stacked recurrent layers.'),
  /**
   * A backward direction in every layer (bidirectional / deep bidirectional RNN); needs
   * tbptt.independentWindows: true and stride = window.
   * @defaultValue false (absent) — a causal network, whose state carries across windows
   */
  bidirectional: bool().optional().describe('Add a backward direction to every layer; needs tbptt.independentWindows and stride = window. Default: false.'),
  /** A per-frame CNN encoder (dense input only). @defaultValue absent — the input feeds the first layer */
  cnn: cnnSchema.optional(),
};

const lstmOnly = (cell: string) => forbidden(`only allowed with cell lstm (this model has cell ${cell})`);

export const rnnModelSchema = z
  .strictObject({
    cell: exactly('rnn'),
    /**
     * Nonlinearity of the Elman cell.
     * @defaultValue 'tanh' — bounded, so the hidden state cannot grow without limit; also
     * PyTorch's `nn.RNN` default, which keeps weights interchangeable.
     */
    activation: oneOf(['tanh', 'relu']).default('tanh').describe('Nonlinearity of the Elman cell (rnn only).'),
    gruVariant: forbidden('only allowed with cell gru (this model has cell rnn)'),
    peepholes: lstmOnly('rnn'),
    coupledGates: lstmOnly('rnn'),
    forgetBias: lstmOnly('rnn'),
    ...layerSizes,
  })
  .describe('Elman RNN.');

export const lstmModelSchema = z
  .strictObject({
    cell: exactly('lstm'),
    activation: forbidden('only allowed with cell rnn (this model has cell lstm)'),
    gruVariant: forbidden('only allowed with cell gru (this model has cell lstm)'),
    /**
     * Peephole connections: the forget, input and output gates read C_{t-1} through a full
     * H×H matrix each (rnn.weight_ch_l{k}); no PyTorch module has them.
     * @defaultValue false (absent) — nn.LSTM's cell, so checkpoints load into PyTorch
     */
    peepholes: bool().optional().describe('Gates also read the previous cell state C_{t-1} (lstm only). Default: false.'),
    /**
     * Coupled forget and input gates: i_t = 1 - f_t (the i rows leave the weights).
     * @defaultValue false (absent) — nn.LSTM's cell, so checkpoints load into PyTorch
     */
    coupledGates: bool().optional().describe('Input gate = 1 - forget gate (lstm only). Default: false.'),
    /**
     * Initial forget-gate bias b: the f blocks of rnn.bias_ih_l{k} and rnn.bias_hh_l{k} (every
     * layer and direction) each start at b / 2, so the effective bias b_ih + b_hh is b; every
     * other bias and weight keeps nn.LSTM's U(-1/√H, 1/√H). Only the initial value: checkpoints
     * keep nn.LSTM's layout and load into PyTorch unchanged.
     * @defaultValue absent — nn.LSTM's initialisation (the f bias is drawn like the others, ≈ 0)
     */
    forgetBias: numberIn({}).optional().describe('Initial forget-gate bias b (lstm only): the f blocks of bias_ih and bias_hh each start at b / 2, so their sum is b. Default: absent (drawn like every bias, about 0).'),
    ...layerSizes,
  })
  .describe('Long short-term memory.');

export const gruModelSchema = z
  .strictObject({
    cell: exactly('gru'),
    activation: forbidden('only allowed with cell rnn (this model has cell gru)'),
    /**
     * Where the reset gate applies in the candidate state (see the file comment).
     * @defaultValue 'reset-after' — the form cuDNN and PyTorch implement, so the fast GPU
     * kernels apply and weights load into PyTorch unchanged.
     */
    gruVariant: oneOf(['reset-after', 'reset-before']).default('reset-after').describe('Where the reset gate applies (gru only).'),
    peepholes: lstmOnly('gru'),
    coupledGates: lstmOnly('gru'),
    forgetBias: lstmOnly('gru'),
    ...layerSizes,
  })
  .describe('Gated recurrent unit.');

export const convLstmModelSchema = z
  .strictObject({
    cell: exactly('convlstm'),
    frame: frameSchema,
    /** Channels of h and C in every layer. No default: the model's main size knob. */
    filters: intAtLeast(1).describe('Channels of h and C in every ConvLSTM layer.'),
    /** @defaultValue 3 — Shi et al.'s smallest; larger kernels see faster motion per step */
    kernel: kernelSchema.default(3).describe("Kernel of every convolution ('same' padding), or [height, width]. Default: 3."),
    /** @defaultValue 1 */
    layers: intAtLeast(1).default(1).describe('Stacked ConvLSTM layers.'),
    hidden: forbidden('not allowed with cell convlstm (its state is frame height × width × filters)'),
    embedding: forbidden('not allowed with cell convlstm (it reads dense frames)'),
    bidirectional: forbidden('not allowed with cell convlstm'),
    cnn: forbidden('not allowed with cell convlstm (its layers are convolutional already)'),
    activation: forbidden('only allowed with cell rnn (this model has cell convlstm)'),
    gruVariant: forbidden('only allowed with cell gru (this model has cell convlstm)'),
    peepholes: forbidden('not allowed with cell convlstm (its Hadamard peepholes are always there)'),
    coupledGates: lstmOnly('convlstm'),
    forgetBias: lstmOnly('convlstm'),
  })
  .describe('Convolutional LSTM (Shi et al., 2015) over frames.');

export const modelSchema = z
  .discriminatedUnion('cell', [rnnModelSchema, lstmModelSchema, gruModelSchema, convLstmModelSchema])
  .describe('The recurrent network, discriminated on cell.');

export type RnnModelSpec = z.output<typeof rnnModelSchema>;
export type LstmModelSpec = z.output<typeof lstmModelSchema>;
export type GruModelSpec = z.output<typeof gruModelSchema>;
export type ConvLstmModelSpec = z.output<typeof convLstmModelSchema>;
export type ModelSpec = z.output<typeof modelSchema>;
export type CellKind = ModelSpec['cell'];
