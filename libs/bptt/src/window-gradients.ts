/**
 * One window job: forward over T steps from the given state, loss on the scored
 * (newest k1) steps, backward through all T steps — and the gradient brought back
 * to host arrays. The job's output is the loss sum and its count, the gradient
 * contribution, the state to carry into the next window and the gradient flow
 * across time; nothing here changes a parameter.
 *
 * The window's data may narrow what is scored and where sequences start
 * (episode-data.ts): a scored row is one of the newest k1 rows whose `mask` is 1,
 * and a stream with `resets` 1 starts the window from a zero state whatever state
 * was handed in. A window with no scored row has a zero gradient and count 0 (the
 * forward still runs: its carry is the next window's state).
 */
import { tf, type Gemm, type NetworkState, type RecurrentNetwork } from '@unroll/models';
import { accumulate, type NamedArrays } from './gradients';
import { gatherRows, headLoss, type LossKind } from './losses';
import type { WindowData } from './sequence-data';

export interface WindowJobOptions {
  loss: LossKind;
  /** First scored row of the window (k2 − k1). @defaultValue 0 */
  scoredFrom?: number;
  /** Step whose state is carried (k1 − 1). @defaultValue T − 1 */
  carryAt?: number;
  /**
   * Adds the window's gradient into these arrays (one per parameter, the network's
   * names and sizes) and hands them back as `grads`, instead of fresh copies: a
   * trainer's accumulator, so that no per-window copy is allocated (a fresh
   * multi-megabyte array costs page faults on every step).
   * @defaultValue fresh arrays, one per parameter
   */
  addInto?: NamedArrays;
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

/** The state with the rows of streams that start a new sequence zeroed. */
export function applyResets(state: NetworkState, resets: Uint8Array | undefined): NetworkState {
  if (!resets || !resets.includes(1)) return state;
  const B = resets.length;
  const zeroRows = (a: Float32Array) => {
    const H = a.length / B;
    const out = Float32Array.from(a);
    resets.forEach((r, b) => r && out.fill(0, b * H, (b + 1) * H));
    return out;
  };
  return state.map((l) => ({ h: zeroRows(l.h), c: l.c ? zeroRows(l.c) : undefined }));
}

/**
 * Rows, counted from the first scored row, that the mask keeps, with their targets;
 * undefined when every row is kept.
 */
function maskedRows(mask: Uint8Array | undefined, rowsFrom: number, targets: Int32Array | Float32Array, perRow: number): { rows: Int32Array; targets: Int32Array | Float32Array } | undefined {
  if (!mask) return undefined;
  const kept: number[] = [];
  for (let r = rowsFrom; r < mask.length; r++) if (mask[r]) kept.push(r - rowsFrom);
  if (kept.length === mask.length - rowsFrom) return undefined;
  const picked = targets instanceof Int32Array ? new Int32Array(kept.length * perRow) : new Float32Array(kept.length * perRow);
  kept.forEach((r, i) => picked.set(targets.subarray((rowsFrom + r) * perRow, (rowsFrom + r + 1) * perRow), i * perRow));
  return { rows: Int32Array.from(kept), targets: picked };
}

/**
 * Where the head's products run: through the window kernel's Gemm when the kernel is
 * native (BLAS on host arrays, like the window itself), else undefined — tf.matMul on
 * the tfjs backend, as on the tfjs path.
 */
export function headGemm(net: RecurrentNetwork): Gemm | undefined {
  return net.kernel?.name === 'native' ? net.kernel.gemm : undefined;
}

/** Loss over the scored rows of the window's top-layer output. */
function scoredLoss(net: RecurrentNetwork, kind: LossKind, top: tf.Tensor3D, data: WindowData, scoredFrom: number) {
  const { T, B } = data.input;
  const perRow = data.targets.length / (T * B);
  const weight = net.param('decoder.weight') as tf.Variable<tf.Rank.R2>;
  const bias = net.param('decoder.bias') as tf.Variable<tf.Rank.R1>;
  const gemm = headGemm(net);
  const rows = scoredRows(top, scoredFrom);
  const masked = maskedRows(data.mask, scoredFrom * B, data.targets, perRow);
  if (!masked) return headLoss(kind, rows, weight, bias, scoredTargets(data.targets, scoredFrom * B, perRow), gemm);
  return headLoss(kind, gatherRows(rows, masked.rows, gemm !== undefined), weight, bias, masked.targets, gemm);
}

/** Whether any of the newest rows from `scoredFrom` on is scored. */
function anyScored(data: WindowData, scoredFrom: number): boolean {
  if (!data.mask) return true;
  for (let r = scoredFrom * data.input.B; r < data.mask.length; r++) if (data.mask[r]) return true;
  return false;
}

/** Top-layer output rows from `scoredFrom` on, as [(T − scoredFrom)·B, H]. */
function scoredRows(top: tf.Tensor3D, scoredFrom: number): tf.Tensor2D {
  const [T, B, H] = top.shape;
  const rows = scoredFrom === 0 ? top : tf.slice(top, [scoredFrom, 0, 0], [T - scoredFrom, B, H]);
  return tf.reshape(rows, [(T - scoredFrom) * B, H]) as tf.Tensor2D;
}

export function windowGradients(net: RecurrentNetwork, data: WindowData, state: NetworkState, opts: WindowJobOptions): WindowGradients {
  const scoredFrom = opts.scoredFrom ?? 0;
  const initial = applyResets(state, data.resets);
  if (!anyScored(data, scoredFrom)) return unscoredWindow(net, data, initial, opts);
  const names = new Map<string, string>();
  for (const [name, v] of net.params) names.set(v.name, name);
  const flow: Float64Array[] = [];
  let carry: NetworkState = [];
  let count = 0;
  const { value, grads } = tf.variableGrads(() => {
    const out = net.forward(data.input, initial, { carryAt: opts.carryAt, onFlow: (k, f) => (flow[k] = f) });
    carry = out.carry;
    const loss = scoredLoss(net, opts.loss, out.top, data, scoredFrom);
    count = loss.count;
    return loss.sum;
  }, [...net.params.values()]);
  const host: NamedArrays = new Map();
  for (const [varName, g] of Object.entries(grads)) host.set(names.get(varName) as string, g.dataSync() as Float32Array);
  const lossSum = (value.dataSync() as Float32Array)[0];
  // Keep the network's parameter order.
  const ordered: NamedArrays = new Map();
  for (const name of net.params.keys()) ordered.set(name, host.get(name) as Float32Array);
  if (opts.addInto) accumulate(opts.addInto, ordered);
  else for (const [name, g] of ordered) ordered.set(name, Float32Array.from(g));
  tf.dispose([value, ...Object.values(grads)]);
  return { lossSum, count, grads: opts.addInto ?? ordered, carry, flow };
}

/** A window that scores nothing: the forward for its carry, a zero gradient, count 0. */
function unscoredWindow(net: RecurrentNetwork, data: WindowData, state: NetworkState, opts: WindowJobOptions): WindowGradients {
  let carry: NetworkState = [];
  tf.tidy(() => {
    carry = net.forward(data.input, state, { carryAt: opts.carryAt }).carry;
  });
  const grads: NamedArrays = new Map();
  if (!opts.addInto) for (const [name, v] of net.params) grads.set(name, new Float32Array(v.size));
  return { lossSum: 0, count: 0, grads: opts.addInto ?? grads, carry, flow: [] };
}

/** Loss sum over one window without gradients (evaluation). */
export function windowLoss(net: RecurrentNetwork, data: WindowData, state: NetworkState, loss: LossKind): { lossSum: number; count: number; carry: NetworkState } {
  let carry: NetworkState = [];
  let count = 0;
  const initial = applyResets(state, data.resets);
  if (!anyScored(data, 0)) {
    tf.tidy(() => {
      carry = net.forward(data.input, initial).carry;
    });
    return { lossSum: 0, count: 0, carry };
  }
  const sum = tf.tidy(() => {
    const out = net.forward(data.input, initial);
    carry = out.carry;
    const l = scoredLoss(net, loss, out.top, data, 0);
    count = l.count;
    return l.sum;
  });
  const lossSum = (sum.dataSync() as Float32Array)[0];
  sum.dispose();
  return { lossSum, count, carry };
}
