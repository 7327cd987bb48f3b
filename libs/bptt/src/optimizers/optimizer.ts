/**
 * Optimizers over host parameter arrays, with PyTorch's update rules so that a run
 * can be compared step for step with torch.optim, and with serialisable state
 * (checkpoint tensors named `optimizer.<slot>.<parameter>` plus metadata).
 */
import type { NamedArrays } from '../gradients';

export interface OptimizerState {
  /** Per-parameter slots, e.g. `exp_avg.rnn.weight_ih_l0`. */
  slots: NamedArrays;
  /** Scalars (step count, hyper-parameters), JSON-serialisable. */
  meta: Record<string, number | string | boolean>;
}

export interface Optimizer {
  readonly name: string;
  /** Updates `params` in place from `grads`. */
  step(params: NamedArrays, grads: NamedArrays): void;
  /**
   * A copy of the slots and scalars. With `reuse`, a state this optimizer gave
   * before that nobody reads any more: its arrays are overwritten and returned where
   * the sizes match (no fresh megabytes per step for a rollback copy).
   */
  state(reuse?: OptimizerState): OptimizerState;
  load(state: OptimizerState): void;
}

/** `a` copied into `reuse`'s array of slot `key` when it has the size, else into a fresh one. */
export function copySlot(a: Float32Array, key: string, reuse: OptimizerState | undefined): Float32Array {
  const into = reuse?.slots.get(key);
  if (into && into.length === a.length) {
    into.set(a);
    return into;
  }
  return Float32Array.from(a);
}

export class OptimizerStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptimizerStateError';
  }
}

/** Checks that every slot of a saved state names a known parameter and has its size. */
export function checkSlots(state: OptimizerState, sizes: ReadonlyMap<string, number>): void {
  for (const [key, a] of state.slots) {
    const param = key.slice(key.indexOf('.') + 1);
    const n = sizes.get(param);
    if (n === undefined) throw new OptimizerStateError(`optimizer state ${key} names no parameter of this model`);
    if (a.length !== n) throw new OptimizerStateError(`optimizer state ${key} has ${a.length} values, parameter ${param} has ${n}`);
  }
}
