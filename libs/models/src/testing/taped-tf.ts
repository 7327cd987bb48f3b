/**
 * The reference cells written with ordinary tfjs ops, one time step after another,
 * so that tfjs autodiff (`tf.grads`, `tf.variableGrads`) gives a second, independent
 * backward to compare the fused window ops with.
 *
 * Same cells, layout and conventions as the float64 reference (ref-cell.ts); per
 * gate block k the pre-activations are x W_ikᵀ + b_ik and h W_hkᵀ + b_hk, with the
 * blocks sliced out of the stacked weight rows:
 *   rnn:  h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
 *   lstm: i, f, g, o = σ, σ, tanh, σ of their blocks; c' = f⊙c + i⊙g; h' = o⊙tanh(c')
 *         peepholes: i, f, o also add c W_ckᵀ (wCh blocks i, f, o; f, o when coupled)
 *         coupled gates: blocks f, g, o only, and i = 1 − f
 *   gru:  r = σ(…_r), z = σ(…_z)
 *         reset-after:  n = tanh(x W_inᵀ + b_in + r⊙(h W_hnᵀ + b_hn))
 *         reset-before: n = tanh(x W_inᵀ + b_in + (r⊙h) W_hnᵀ + b_hn)
 *         h' = (1 − z)⊙n + z⊙h
 *
 * Importing this module imports '@tensorflow/tfjs-layers' for its side effect:
 * tfjs-core's CommonJS bundle registers no gradients, and the layers node bundle
 * registers all of core's.
 */
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { gateCount, peepholeCount, RefCell } from './ref-cell';

/** Parameters as tensors, layout as in ref-cell.ts. */
export interface TapedParams {
  /** [G·H, I] */
  wIh: tf.Tensor2D;
  /** [G·H, H] */
  wHh: tf.Tensor2D;
  /** [G·H] */
  bIh: tf.Tensor1D;
  /** [G·H] */
  bHh: tf.Tensor1D;
  /** [P·H, H], peephole lstm only */
  wCh?: tf.Tensor2D;
}

/** y [T, B, H], hT [B, H], cT [B, H] (lstm only). */
export interface TapedWindowResult {
  y: tf.Tensor3D;
  hT: tf.Tensor2D;
  cT?: tf.Tensor2D;
}

interface TapedState {
  h: tf.Tensor2D;
  c?: tf.Tensor2D;
}

function expectShape(name: string, t: tf.Tensor, expected: number[], meaning: string): void {
  const ok = t.shape.length === expected.length && t.shape.every((n, k) => n === expected[k]);
  if (!ok) throw new Error(`tapedWindow: ${name} must be ${meaning} = [${expected.join(', ')}], got [${t.shape.join(', ')}]`);
}

/** The gate-block views of one layer's parameters. */
class GateBlocks {
  constructor(
    private readonly p: TapedParams,
    private readonly H: number,
  ) {}

  /** x W_ikᵀ + b_ik for gate block k. */
  input(x: tf.Tensor2D, k: number): tf.Tensor2D {
    return this.affine(x, this.p.wIh, this.p.bIh, k);
  }

  /** v W_hkᵀ + b_hk for gate block k (v is h, or r⊙h for the reset-before GRU). */
  hidden(v: tf.Tensor2D, k: number): tf.Tensor2D {
    return this.affine(v, this.p.wHh, this.p.bHh, k);
  }

  /** c W_ckᵀ for peephole block k (no bias). */
  peephole(c: tf.Tensor2D, k: number): tf.Tensor2D {
    const wk = tf.slice(this.p.wCh as tf.Tensor2D, [k * this.H, 0], [this.H, -1]);
    return tf.matMul(c, wk, false, true);
  }

  private affine(v: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, k: number): tf.Tensor2D {
    const wk = tf.slice(w, [k * this.H, 0], [this.H, -1]);
    const bk = tf.slice(b, [k * this.H], [this.H]);
    return tf.add(tf.matMul(v, wk, false, true), bk);
  }
}

function step(cell: RefCell, g: GateBlocks, x: tf.Tensor2D, { h, c }: TapedState): TapedState {
  const pre = (k: number): tf.Tensor2D => tf.add(g.input(x, k), g.hidden(h, k));
  switch (cell.cell) {
    case 'rnn': {
      const a = pre(0);
      return { h: cell.activation === 'tanh' ? tf.tanh(a) : tf.relu(a) };
    }
    case 'lstm': {
      if (c === undefined) throw new Error('tapedWindow: lstm step expects the cell state c, got undefined');
      const coupled = cell.coupledGates === true;
      // Weight blocks i, f, g, o (coupled: f, g, o); peephole blocks i, f, o (coupled: f, o).
      const blockOf = (k: 'i' | 'f' | 'g' | 'o') => (coupled ? ['f', 'g', 'o'] : ['i', 'f', 'g', 'o']).indexOf(k);
      const peepOf = (k: 'i' | 'f' | 'o') => (coupled ? ['f', 'o'] : ['i', 'f', 'o']).indexOf(k);
      const gatePre = (k: 'i' | 'f' | 'o') => (cell.peepholes ? tf.add(pre(blockOf(k)), g.peephole(c, peepOf(k))) : pre(blockOf(k)));
      const f = tf.sigmoid(gatePre('f'));
      const i = coupled ? tf.sub(1, f) : tf.sigmoid(gatePre('i'));
      const gg = tf.tanh(pre(blockOf('g')));
      const o = tf.sigmoid(gatePre('o'));
      const cNext: tf.Tensor2D = tf.add(tf.mul(f, c), tf.mul(i, gg));
      return { h: tf.mul(o, tf.tanh(cNext)), c: cNext };
    }
    case 'gru': {
      const r = tf.sigmoid(pre(0));
      const z = tf.sigmoid(pre(1));
      const hiddenN = cell.variant === 'reset-after' ? tf.mul(r, g.hidden(h, 2)) : g.hidden(tf.mul(r, h), 2);
      const n = tf.tanh(tf.add(g.input(x, 2), hiddenN));
      return { h: tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h)) };
    }
  }
}

export interface TapedWindowOptions {
  /**
   * Run from the last step to the first (a bidirectional network's backward
   * direction: h_t reads h_{t+1}; h0 is the state before step T−1, hT the state
   * after step 0). y stays in time order. @defaultValue false
   */
  reverse?: boolean;
}

/**
 * Runs the cell over x [T, B, I] from h0 (and c0 for lstm; zeros when omitted),
 * step by step with taped tfjs ops. Only the returned tensors survive: the
 * intermediates are released by an internal tf.tidy (under tf.grads they are
 * kept by the tape until the gradients are computed).
 */
export function tapedWindow(cell: RefCell, p: TapedParams, x: tf.Tensor3D, h0: tf.Tensor2D, c0?: tf.Tensor2D, opts: TapedWindowOptions = {}): TapedWindowResult {
  if (x.shape.length !== 3) throw new Error(`tapedWindow: x must be [T, B, I], got [${x.shape.join(', ')}]`);
  const [T, B, I] = x.shape;
  if (T < 1) throw new Error(`tapedWindow: x must have at least one time step, got T = ${T}`);
  if (h0.shape.length !== 2) throw new Error(`tapedWindow: h0 must be [B, H], got [${h0.shape.join(', ')}]`);
  const H = h0.shape[1];
  const rows = gateCount(cell) * H;
  expectShape('h0', h0, [B, H], '[B, H]');
  expectShape('wIh', p.wIh, [rows, I], '[G·H, I]');
  expectShape('wHh', p.wHh, [rows, H], '[G·H, H]');
  expectShape('bIh', p.bIh, [rows], '[G·H]');
  expectShape('bHh', p.bHh, [rows], '[G·H]');
  const P = peepholeCount(cell);
  if (P > 0) {
    if (p.wCh === undefined) throw new Error(`tapedWindow: a peephole lstm needs wCh [P·H, H] = [${P * H}, ${H}], got none`);
    expectShape('wCh', p.wCh, [P * H, H], '[P·H, H]');
  }
  if (c0 !== undefined) {
    if (cell.cell !== 'lstm') throw new Error(`tapedWindow: c0 is only meaningful for lstm, got one for ${cell.cell}`);
    expectShape('c0', c0, [B, H], '[B, H]');
  }

  const { y, hT, cT } = tf.tidy(() => {
    const blocks = new GateBlocks(p, H);
    // PyTorch's default: a missing lstm c0 is zeros.
    let state: TapedState = cell.cell === 'lstm' ? { h: h0, c: c0 ?? tf.zerosLike(h0) } : { h: h0 };
    const ys: tf.Tensor2D[] = new Array(T);
    // Slices rather than tf.unstack: Unpack's gradient breaks when T = 1.
    for (let k = 0; k < T; k++) {
      const t = opts.reverse ? T - 1 - k : k;
      const xt = tf.reshape(tf.slice(x, [t, 0, 0], [1, B, x.shape[2]]), [B, x.shape[2]]) as tf.Tensor2D;
      state = step(cell, blocks, xt, state);
      ys[t] = state.h;
    }
    const stacked = tf.stack(ys) as tf.Tensor3D;
    return state.c === undefined ? { y: stacked, hT: state.h } : { y: stacked, hT: state.h, cT: state.c };
  });
  return cT === undefined ? { y, hT } : { y, hT, cT };
}
