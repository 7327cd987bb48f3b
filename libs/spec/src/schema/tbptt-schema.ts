/**
 * `spec.tbptt`: how the data is cut into truncated-BPTT windows.
 *
 * The data is split into `streams` contiguous streams read in parallel (the batch). Each
 * step runs the network over `window` time steps of every stream from the carried
 * hidden state, backpropagates through those `window` steps, then advances by `stride`
 * steps. With stride = window the windows tile the data (Williams & Peng's
 * TBPTT(k1 = k2)); with stride < window they overlap and each time step is trained
 * window / stride times. The batch of streams is computed in `microBatch`-sized pieces
 * whose gradients are summed, which bounds memory without changing the update.
 *
 * `independentWindows: true` declares that each window is a whole sequence of its own:
 * nothing is carried from one window into the next (every window starts from a zero
 * state). A bidirectional model needs it — its backward direction's state at a window's
 * end would depend on steps after the window — and with it stride must equal window.
 */
import { z } from 'zod';
import { bool, intAtLeast } from './field-builders';
import { whenValid } from './when-valid';

const tbpttInputSchema = z.strictObject({
  /** Parallel streams the data is split into: the batch size. No default: it trades throughput against memory on the machine at hand. */
  streams: intAtLeast(1).describe('Parallel streams the data is split into (the batch size).'),
  /** Time steps backpropagated through per step (the truncation length). No default: it sets how far back gradients reach. */
  window: intAtLeast(1).describe('Time steps backpropagated through per step (the truncation length).'),
  /**
   * Time steps the windows advance per step; 1 ≤ stride ≤ window.
   * @defaultValue window — windows tile the data, so each time step is trained once per pass.
   */
  stride: intAtLeast(1).optional().describe('Time steps the windows advance per step; 1 ≤ stride ≤ window. Default: window.'),
  /**
   * Streams computed together in one forward/backward pass; must divide `streams`.
   * @defaultValue streams — the whole batch at once, the fastest when it fits in memory.
   */
  microBatch: intAtLeast(1).optional().describe('Streams per forward/backward pass; must divide streams. Default: streams.'),
  /**
   * Every window is an independent sequence: no state is carried across windows.
   * Required by (and, for now, only allowed with) model.bidirectional; stride must equal window.
   * @defaultValue false (absent) — TBPTT carries the hidden state from window to window
   */
  independentWindows: bool().optional().describe('Each window is an independent sequence (no state carried); needs model.bidirectional and stride = window. Default: false.'),
});

export const tbpttSchema = tbpttInputSchema
  .superRefine(
    (t, ctx) => {
      if (t.stride !== undefined && t.stride > t.window) {
        ctx.addIssue({
          code: 'custom',
          path: ['stride'],
          input: t.stride,
          message: `expected an integer between 1 and window (${t.window}), got ${t.stride}`,
        });
      }
    },
    { when: whenValid('stride', 'window') },
  )
  .superRefine(
    (t, ctx) => {
      if (t.microBatch !== undefined && t.streams % t.microBatch !== 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['microBatch'],
          input: t.microBatch,
          message: `expected a divisor of streams (${t.streams}), got ${t.microBatch}`,
        });
      }
    },
    { when: whenValid('microBatch', 'streams') },
  )
  .transform((t) => ({
    streams: t.streams,
    window: t.window,
    stride: t.stride ?? t.window,
    microBatch: t.microBatch ?? t.streams,
    // Left out when absent, so specs written before the field existed keep their hash.
    ...(t.independentWindows !== undefined ? { independentWindows: t.independentWindows } : {}),
  }))
  .describe('How the data is cut into truncated-BPTT windows.');

/** TBPTT settings with defaults applied: `stride` and `microBatch` are always set. */
export type TbpttSpec = z.output<typeof tbpttSchema>;
