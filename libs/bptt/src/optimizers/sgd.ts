/**
 * SGD with momentum, as torch.optim.SGD (dampening 0):
 *   g ← g + λ·p                       (weightDecay λ)
 *   b ← μ·b + g   (b = g on the first step)
 *   g ← g + μ·b (nesterov) or g ← b
 *   p ← p − lr·g
 */
import type { NamedArrays } from '../gradients';
import { copySlot, OptimizerStateError, type Optimizer, type OptimizerState } from './optimizer';

export interface SgdOptions {
  lr: number;
  /** @defaultValue 0 */
  momentum?: number;
  /** @defaultValue false */
  nesterov?: boolean;
  /** L2 penalty added to the gradient. @defaultValue 0 */
  weightDecay?: number;
}

export class Sgd implements Optimizer {
  readonly name = 'sgd';
  private buffers: NamedArrays = new Map();
  private steps = 0;

  constructor(private readonly opts: SgdOptions) {}

  step(params: NamedArrays, grads: NamedArrays): void {
    const { lr, momentum = 0, nesterov = false, weightDecay = 0 } = this.opts;
    for (const [name, p] of params) {
      const g = grads.get(name) as Float32Array;
      let buf = this.buffers.get(name);
      if (momentum !== 0 && !buf) {
        buf = new Float32Array(p.length);
        this.buffers.set(name, buf);
      }
      for (let i = 0; i < p.length; i++) {
        let d = g[i] + weightDecay * p[i];
        if (buf) {
          buf[i] = this.steps === 0 ? d : momentum * buf[i] + d;
          d = nesterov ? d + momentum * buf[i] : buf[i];
        }
        p[i] -= lr * d;
      }
    }
    this.steps++;
  }

  state(reuse?: OptimizerState): OptimizerState {
    const slots: NamedArrays = new Map();
    for (const [name, b] of this.buffers) slots.set(`momentum_buffer.${name}`, copySlot(b, `momentum_buffer.${name}`, reuse));
    return { slots, meta: { optimizer: 'sgd', step: this.steps } };
  }

  load(state: OptimizerState): void {
    if (state.meta.optimizer !== 'sgd') throw new OptimizerStateError(`checkpoint holds ${String(state.meta.optimizer)} state, spec asks for sgd`);
    this.steps = Number(state.meta.step ?? 0);
    this.buffers = new Map();
    for (const [key, a] of state.slots) {
      if (!key.startsWith('momentum_buffer.')) throw new OptimizerStateError(`unexpected sgd state tensor ${key}`);
      this.buffers.set(key.slice('momentum_buffer.'.length), Float32Array.from(a));
    }
  }
}
