/**
 * `spec.workers`: how many data-parallel workers the distributed runtime may use. The
 * run starts once `min` have joined and admits more up to `max`, at step boundaries.
 * A member lost while at least `min` remain: the survivors redo the failed step as a
 * new generation (up to the coordinator's --max-restarts). Fewer than `min` left: the
 * run fails, naming the lost worker — it does not wait for replacements.
 */
import { z } from 'zod';
import { intAtLeast } from './field-builders';
import { whenValid } from './when-valid';

export const workersSchema = z
  .strictObject({
    /**
     * Workers needed to train.
     * @defaultValue 1 — a single process, the local mode.
     */
    min: intAtLeast(1).default(1).describe('Workers needed to train.'),
    /**
     * Workers admitted at most; ≥ min.
     * @defaultValue min — a fixed-size run unless elasticity is asked for.
     */
    max: intAtLeast(1).optional().describe('Workers admitted at most; ≥ min. Default: min.'),
  })
  .superRefine(
    (w, ctx) => {
      if (w.max !== undefined && w.max < w.min) {
        ctx.addIssue({
          code: 'custom',
          path: ['max'],
          input: w.max,
          message: `expected an integer ≥ workers.min (${w.min}), got ${w.max}`,
        });
      }
    },
    { when: whenValid('min', 'max') },
  )
  .transform((w) => ({ min: w.min, max: w.max ?? w.min }))
  .prefault({})
  .describe('How many data-parallel workers the run may use.');

export type WorkersSpec = z.output<typeof workersSchema>;
