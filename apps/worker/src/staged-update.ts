/**
 * The update of one step, computed from the all-reduced gradient into a staged copy
 * of the parameters — the distributed half of Trainer.runStep (libs/bptt), in the
 * same order so that N workers compute what one process computes:
 *
 *   1. g ← Σ_members acc / count        (count: the step's scored positions, from the coordinator)
 *   2. ‖g‖, per-layer norms; a non-finite ‖g‖ skips the step (nothing changes, counted)
 *   3. clip g to clipNorm (torch clip_grad_norm_)
 *   4. p' ← optimizer(p, g) on a COPY of p; the optimizer's slots before the update
 *      are kept so that an aborted step leaves it exactly as it was
 *
 * Nothing here touches the committed parameters: they change at commit only
 * (DESIGN invariant 3).
 */
import { clipByGlobalNorm, gradientStats, scale, type NamedArrays, type Optimizer, type OptimizerState } from '@unroll/bptt';

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
}

export function stageUpdate(
  ctx: { generation: number; step: number },
  committed: ReadonlyMap<string, Float32Array>,
  optimizer: Optimizer,
  reduced: NamedArrays,
  count: number,
  clipNorm: number | undefined,
): StagedUpdate {
  if (!(count > 0)) throw new RangeError(`a step's token count must be positive, got ${count}`);
  const optimizerBefore = optimizer.state();
  scale(reduced, 1 / count);
  const stats = gradientStats(reduced);
  const params: NamedArrays = new Map([...committed].map(([name, a]) => [name, Float32Array.from(a)]));
  if (!stats.finite) return { ...ctx, params, optimizerBefore, gradNorm: stats.norm, clipped: false, skipped: true };
  const factor = clipByGlobalNorm(reduced, stats.norm, clipNorm);
  optimizer.step(params, reduced);
  return { ...ctx, params, optimizerBefore, gradNorm: stats.norm, clipped: factor < 1, skipped: false };
}
