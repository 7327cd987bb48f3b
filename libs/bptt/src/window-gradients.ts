/**
 * One window job: forward over T steps from the given state, loss on the scored
 * (newest k1) steps, backward through all T steps — and the gradient brought back
 * to host arrays. The job's output is the loss sum and its count, the gradient
 * contribution, the state to carry into the next window and the gradient flow
 * across time; nothing here changes a parameter.
 */
import { tf, type NetworkState, type RecurrentNetwork } from '@unroll/models';
import type { NamedArrays } from './gradients';
import { headLoss, type LossKind } from './losses';
import type { WindowData } from './sequence-data';

export interface WindowJobOptions {
  loss: LossKind;
  /** First scored row of the window (k2 − k1). @defaultValue 0 */
  scoredFrom?: number;
  /** Step whose state is carried (k1 − 1). @defaultValue T − 1 */
  carryAt?: number;
}

export interface WindowGradients {
  lossSum: number;
  count: number;
  grads: NamedArrays;
  carry: NetworkState;
  /** Per layer, ‖∂L/∂h_t‖ for t = 0..T−1 (of the loss sum). */
  flow: Float64Array[];
}

function scoredTargets(targets: Int32Array | Float32Array, rowsFrom: number, perRow: number): Int32Array | Float32Array {
  return rowsFrom === 0 ? targets : targets.subarray(rowsFrom * perRow);
}

/** Top-layer output rows from `scoredFrom` on, as [(T − scoredFrom)·B, H]. */
function scoredRows(top: tf.Tensor3D, scoredFrom: number): tf.Tensor2D {
  const [T, B, H] = top.shape;
  const rows = scoredFrom === 0 ? top : tf.slice(top, [scoredFrom, 0, 0], [T - scoredFrom, B, H]);
  return tf.reshape(rows, [(T - scoredFrom) * B, H]) as tf.Tensor2D;
}

export function windowGradients(net: RecurrentNetwork, data: WindowData, state: NetworkState, opts: WindowJobOptions): WindowGradients {
  const { T, B } = data.input;
  const scoredFrom = opts.scoredFrom ?? 0;
  const names = new Map<string, string>();
  for (const [name, v] of net.params) names.set(v.name, name);
  const flow: Float64Array[] = [];
  let carry: NetworkState = [];
  let count = 0;
  const { value, grads } = tf.variableGrads(() => {
    const out = net.forward(data.input, state, { carryAt: opts.carryAt, onFlow: (k, f) => (flow[k] = f) });
    carry = out.carry;
    const perRow = data.targets.length / (T * B);
    const loss = headLoss(
      opts.loss,
      scoredRows(out.top, scoredFrom),
      net.param('decoder.weight') as tf.Variable<tf.Rank.R2>,
      net.param('decoder.bias') as tf.Variable<tf.Rank.R1>,
      scoredTargets(data.targets, scoredFrom * B, perRow),
    );
    count = loss.count;
    return loss.sum;
  }, [...net.params.values()]);
  const host: NamedArrays = new Map();
  for (const [varName, g] of Object.entries(grads)) host.set(names.get(varName) as string, Float32Array.from(g.dataSync() as Float32Array));
  const lossSum = (value.dataSync() as Float32Array)[0];
  tf.dispose([value, ...Object.values(grads)]);
  // Keep the network's parameter order.
  const ordered: NamedArrays = new Map();
  for (const name of net.params.keys()) ordered.set(name, host.get(name) as Float32Array);
  return { lossSum, count, grads: ordered, carry, flow };
}

/** Loss sum over one window without gradients (evaluation). */
export function windowLoss(net: RecurrentNetwork, data: WindowData, state: NetworkState, loss: LossKind): { lossSum: number; count: number; carry: NetworkState } {
  let carry: NetworkState = [];
  let count = 0;
  const sum = tf.tidy(() => {
    const out = net.forward(data.input, state);
    carry = out.carry;
    const l = headLoss(loss, scoredRows(out.top, 0), net.param('decoder.weight') as tf.Variable<tf.Rank.R2>, net.param('decoder.bias') as tf.Variable<tf.Rank.R1>, data.targets);
    count = l.count;
    return l.sum;
  });
  const lossSum = (sum.dataSync() as Float32Array)[0];
  sum.dispose();
  return { lossSum, count, carry };
}
