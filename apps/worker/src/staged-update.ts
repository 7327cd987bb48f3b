/**
 * The update of one step, computed from the all-reduced gradient into a staged copy
 * of the parameters — the distributed half of Trainer.runStep (libs/bptt), in the
 * same order so that N workers compute what one process computes:
 *
 *   1. g ← Σ_members acc / count        (count: the step's scored positions, from the coordinator)
 *   2. ‖g‖, per-layer norms; a non-finite ‖g‖ skips the step (nothing changes, counted)
 *   3. clip g to clipNorm (torch clip_grad_norm_)
 *   4. p' ← optimizer(p, g) on a COPY of p; the optimizer's slots before the update
 *      are kept so that an aborted step leaves it exactly as it was (both copies
 *      are usually taken ahead, while a window computes: prepareStaging)
 *
 * A step that scored nothing (count 0) has no update (unscoredUpdate): the
 * parameters and the optimizer stay as they are and the version moves on, as in
 * Trainer.runStep.
 *
 * Nothing here touches the committed parameters: they change at commit only
 * (DESIGN invariant 3).
 */
import { clipByGlobalNorm, type NamedArrays, type Optimizer, type OptimizerState } from '@unroll/bptt';

export interface StagedUpdate {
  generation: number;
  step: number;
  /** The parameters of version step + 1 (equal to the committed ones when skipped). */
  params: NamedArrays;
  /** The optimizer's state before this update, to roll back an abort. */
  optimizerBefore: OptimizerState;
  gradNorm: number;
  clipped: boolean;
  skipped: boolean;
  /** The step scored nothing (count 0): no update, not counted as skipped. */
  unscored?: boolean;
}

/**
 * Steps 1–2 (divide, norm; the skip decision), with 3–4 left to finish(): a member
 * can report the step's norm and skip before the optimizer runs — its result is
 * fixed once the reduced gradient is in hand — and run the optimizer while the
 * report travels and the coordinator commits (step-participant.ts).
 */
export interface BegunUpdate {
  gradNorm: number;
  skipped: boolean;
  /** Clips and runs the optimizer into the staged copy: the StagedUpdate. Call once. */
  finish(): StagedUpdate;
}

export function beginUpdate(
  ctx: { generation: number; step: number },
  committed: ReadonlyMap<string, Float32Array>,
  optimizer: Optimizer,
  reduced: NamedArrays,
  count: number,
  clipNorm: number | undefined,
  /** The optimizer's state and a copy of `committed`, taken ahead (ExperimentSession.prepareStaging); taken here when absent. */
  prepared?: { optimizerBefore: OptimizerState; params: NamedArrays },
): BegunUpdate {
  if (!(count > 0)) throw new RangeError(`a step's token count must be positive, got ${count}`);
  const optimizerBefore = prepared?.optimizerBefore ?? optimizer.state();
  const norm = scaledNorm(reduced, 1 / count);
  const params: NamedArrays = prepared?.params ?? stagingCopy(committed);
  const skipped = !Number.isFinite(norm);
  return {
    gradNorm: norm,
    skipped,
    finish(): StagedUpdate {
      if (skipped) return { ...ctx, params, optimizerBefore, gradNorm: norm, clipped: false, skipped: true };
      const factor = clipByGlobalNorm(reduced, norm, clipNorm);
      optimizer.step(params, reduced);
      return { ...ctx, params, optimizerBefore, gradNorm: norm, clipped: factor < 1, skipped: false };
    },
  };
}

/**
 * A copy of the committed parameters to stage an update into, each array on a
 * SharedArrayBuffer: once committed, the compute thread is handed them by reference
 * (postMessage shares a SharedArrayBuffer instead of copying 4 bytes a parameter
 * on the event loop, on the first window of every step). Committed parameters are
 * never written again — the next update goes into the next copy — so sharing them
 * is safe.
 */
export function stagingCopy(committed: ReadonlyMap<string, Float32Array>): NamedArrays {
  return new Map(
    [...committed].map(([name, a]) => {
      const copy = new Float32Array(new SharedArrayBuffer(a.byteLength));
      copy.set(a);
      return [name, copy];
    }),
  );
}

/** The staged "update" of a step that scored nothing: the committed parameters as they are, the optimizer untouched. */
export function unscoredUpdate(
  ctx: { generation: number; step: number },
  committed: ReadonlyMap<string, Float32Array>,
  optimizer: Optimizer,
  prepared?: { optimizerBefore: OptimizerState; params: NamedArrays },
): StagedUpdate {
  const params: NamedArrays = prepared?.params ?? stagingCopy(committed);
  return { ...ctx, params, optimizerBefore: prepared?.optimizerBefore ?? optimizer.state(), gradNorm: 0, clipped: false, skipped: false, unscored: true };
}

export function stageUpdate(...args: Parameters<typeof beginUpdate>): StagedUpdate {
  return beginUpdate(...args).finish();
}

/**
 * g ← g · factor in place, and the global norm of the result, in one pass: the same
 * float32 products and the same float64 sums, in the same order, as scale() then
 * gradientStats() (libs/bptt), so the bytes and the norm are Trainer.runStep's.
 */
export function scaledNorm(g: NamedArrays, factor: number): number {
  let total = 0;
  for (const a of g.values()) {
    let s = 0;
    for (let i = 0; i < a.length; i++) {
      a[i] *= factor;
      const x = a[i];
      s += x * x;
    }
    total += s;
  }
  return Math.sqrt(total);
}
