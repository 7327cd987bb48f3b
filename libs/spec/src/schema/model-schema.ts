/**
 * `spec.model`: the recurrent network, discriminated on `cell`.
 *
 *   rnn   h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh | relu
 *   lstm  i, f, g, o gates; c_t = f ⊙ c_{t-1} + i ⊙ g; h_t = o ⊙ tanh(c_t)
 *   gru   r, z, n gates; h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}, where the candidate is
 *           reset-after:  n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))   (cuDNN, PyTorch)
 *           reset-before: n = tanh(W_in x_t + b_in + W_hn (r ⊙ h_{t-1}) + b_hn)   (the lecture's form)
 *
 * A variant option on the wrong cell (`activation` on an LSTM) is an error, not ignored.
 * Whether `embedding` is needed depends on the dataset; that rule lives in the experiment schema.
 */
import { z } from 'zod';
import { exactly, forbidden, intAtLeast, oneOf } from './field-builders';

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
};

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
    ...layerSizes,
  })
  .describe('Elman RNN.');

export const lstmModelSchema = z
  .strictObject({
    cell: exactly('lstm'),
    activation: forbidden('only allowed with cell rnn (this model has cell lstm)'),
    gruVariant: forbidden('only allowed with cell gru (this model has cell lstm)'),
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
    ...layerSizes,
  })
  .describe('Gated recurrent unit.');

export const modelSchema = z
  .discriminatedUnion('cell', [rnnModelSchema, lstmModelSchema, gruModelSchema])
  .describe('The recurrent network, discriminated on cell.');

export type RnnModelSpec = z.output<typeof rnnModelSchema>;
export type LstmModelSpec = z.output<typeof lstmModelSchema>;
export type GruModelSpec = z.output<typeof gruModelSchema>;
export type ModelSpec = z.output<typeof modelSchema>;
export type CellKind = ModelSpec['cell'];
