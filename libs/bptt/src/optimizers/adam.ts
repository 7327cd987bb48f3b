/**
 * Adam, as torch.optim.Adam (L2 weight decay, not AdamW):
 *   g ← g + λ·p
 *   m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 */
import type { NamedArrays } from '../gradients';
import type { Optimizer, OptimizerState } from './optimizer';
import { copySlot, OptimizerStateError } from './optimizer';

export interface AdamOptions {
  lr: number;
  /** @defaultValue [0.9, 0.999] (Kingma & Ba) */
  betas?: [number, number];
  /** @defaultValue 1e-8 */
  eps?: number;
  /** @defaultValue 0 */
  weightDecay?: number;
}

/**
 * The element loop of {@link Adam.step} over one parameter, elsewhere (the native
 * addon's adamExact): it must compute exactly what the loop below computes — every
 * operation in float64, in the same order, m, v and p rounded to float32 when stored —
 * so that the bytes do not depend on whether it is used. Members of one ring stage
 * the same parameters whether or not each has the addon.
 */
export type AdamLoop = (p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, stepSize: number, sqrtBc2: number, beta1: number, beta2: number, eps: number, weightDecay: number) => void;

export class Adam implements Optimizer {
  readonly name = 'adam';
  private m: NamedArrays = new Map();
  private v: NamedArrays = new Map();
  private t = 0;

  constructor(
    private readonly opts: AdamOptions,
    /** The element loop run elsewhere, bit for bit the same (AdamLoop); absent: the loop below. */
    private readonly loop?: AdamLoop,
  ) {}

  step(params: NamedArrays, grads: NamedArrays): void {
    const { lr, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0 } = this.opts;
    const [b1, b2] = betas;
    this.t++;
    const bc1 = 1 - Math.pow(b1, this.t);
    const sqrtBc2 = Math.sqrt(1 - Math.pow(b2, this.t));
    const stepSize = lr / bc1;
    for (const [name, p] of params) {
      const g = grads.get(name) as Float32Array;
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) {
        m = new Float32Array(p.length);
        v = new Float32Array(p.length);
        this.m.set(name, m);
        this.v.set(name, v);
      }
      if (this.loop) {
        this.loop(p, g, m, v, stepSize, sqrtBc2, b1, b2, eps, weightDecay);
        continue;
      }
      for (let i = 0; i < p.length; i++) {
        const d = g[i] + weightDecay * p[i];
        m[i] = b1 * m[i] + (1 - b1) * d;
        v[i] = b2 * v[i] + (1 - b2) * d * d;
        p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtBc2 + eps);
      }
    }
  }

  state(reuse?: OptimizerState): OptimizerState {
    const slots: NamedArrays = new Map();
    for (const [name, a] of this.m) slots.set(`exp_avg.${name}`, copySlot(a, `exp_avg.${name}`, reuse));
    for (const [name, a] of this.v) slots.set(`exp_avg_sq.${name}`, copySlot(a, `exp_avg_sq.${name}`, reuse));
    return { slots, meta: { optimizer: 'adam', step: this.t } };
  }

  load(state: OptimizerState): void {
    if (state.meta.optimizer !== 'adam') throw new OptimizerStateError(`checkpoint holds ${String(state.meta.optimizer)} state, spec asks for adam`);
    this.t = Number(state.meta.step ?? 0);
    this.m = new Map();
    this.v = new Map();
    for (const [key, a] of state.slots) {
      if (key.startsWith('exp_avg_sq.')) this.v.set(key.slice('exp_avg_sq.'.length), Float32Array.from(a));
      else if (key.startsWith('exp_avg.')) this.m.set(key.slice('exp_avg.'.length), Float32Array.from(a));
      else throw new OptimizerStateError(`unexpected adam state tensor ${key}`);
    }
    if (this.t > 0 && this.m.size !== this.v.size) throw new OptimizerStateError('adam state has unequal exp_avg and exp_avg_sq sets');
  }
}
