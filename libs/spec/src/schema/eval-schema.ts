/** `spec.eval`: validation on the held-out tail of the data. */
import { z } from 'zod';
import { intAtLeast } from './field-builders';

export const evalSchema = z
  .strictObject({
    /**
     * Validate every this many steps; 0 validates only at the end (always done).
     * @defaultValue 0 — periodic validation costs compute the run did not ask for.
     */
    every: intAtLeast(0).default(0).describe('Validate every N steps; 0 = only at the end.'),
    /**
     * TBPTT windows (of every stream) evaluated per validation.
     * @defaultValue 50 — enough windows for a stable loss estimate at a small fraction of
     * a step budget.
     */
    windows: intAtLeast(1).default(50).describe('TBPTT windows evaluated per validation.'),
  })
  .prefault({})
  .describe('Validation on the held-out tail of the data.');

export type EvalSpec = z.output<typeof evalSchema>;
