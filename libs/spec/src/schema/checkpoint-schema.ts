/** `spec.checkpoint`: when model and optimizer state are written, and how many are kept. */
import { z } from 'zod';
import { intAtLeast } from './field-builders';

export const DEFAULT_CHECKPOINTS_KEPT = 3;

export const checkpointSchema = z
  .strictObject({
    /**
     * Write a checkpoint every this many steps; one is always written at the end.
     * @defaultValue spec.steps — only the final checkpoint, so short runs do not fill
     * the disk. Filled in by the experiment schema, which knows `steps`.
     */
    every: intAtLeast(1).optional().describe('Write a checkpoint every N steps (and at the end). Default: steps, i.e. only at the end.'),
    /**
     * Number of most recent checkpoints kept; older ones are deleted.
     * @defaultValue 3 — a few to fall back to if the latest turns out bad, without
     * filling the disk.
     */
    keep: intAtLeast(1).default(DEFAULT_CHECKPOINTS_KEPT).describe('Most recent checkpoints kept; older ones are deleted.'),
  })
  .prefault({})
  .describe('When checkpoints are written and how many are kept.');
