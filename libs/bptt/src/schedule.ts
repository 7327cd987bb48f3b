/**
 * Truncated BPTT schedule: which positions of every stream step s reads.
 *
 * Each of the S streams has P usable input positions. Window k of an epoch covers
 * input positions [k·k1, k·k1 + k2): gradients flow back k2 (`window`) steps, the
 * loss is taken on the k1 (`stride`) newest steps, and the next window starts k1
 * steps later from the state after step k1 − 1 of this one, carried without
 * gradient. The scored positions of consecutive windows tile each stream exactly
 * once, from position k2 − k1 on (the first k2 − k1 positions only warm the state
 * up). With k1 = k2 this is the classic split into disjoint windows.
 *
 * An epoch has W = ⌊(P − k2) / k1⌋ + 1 windows; step s is window s mod W of epoch
 * ⌊s / W⌋, and every epoch starts from a zero state. So the global batch of step s
 * depends on the data, the spec and s alone — never on how many workers run it.
 */
export interface TbpttConfig {
  /** S: parallel streams, the global batch. */
  streams: number;
  /** k2: steps backpropagated per window. */
  window: number;
  /** k1: steps advanced (and scored) per window, 1 ≤ k1 ≤ k2. @defaultValue window */
  stride: number;
  /** Streams per micro-batch (one job); must divide streams. @defaultValue streams */
  microBatch: number;
}

export interface WindowPlan {
  step: number;
  epoch: number;
  /** Window index within the epoch; 0 starts from a zero state. */
  index: number;
  /** First input position of the window. */
  start: number;
}

export class ScheduleError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleError';
  }
}

export class TbpttSchedule {
  readonly windowsPerEpoch: number;

  constructor(
    readonly config: TbpttConfig,
    /** P: usable input positions per stream. */
    readonly positions: number,
  ) {
    const { streams, window, stride, microBatch } = config;
    for (const [name, v] of Object.entries({ streams, window, stride, microBatch })) {
      if (!Number.isInteger(v) || v < 1) throw new ScheduleError(`tbptt.${name} must be a positive integer, got ${v}`);
    }
    if (stride > window) throw new ScheduleError(`tbptt.stride must be ≤ window (${window}), got ${stride}`);
    if (streams % microBatch !== 0) throw new ScheduleError(`tbptt.microBatch (${microBatch}) must divide tbptt.streams (${streams})`);
    if (positions < window) throw new ScheduleError(`each of the ${streams} streams has ${positions} positions, fewer than one window of ${window}: use fewer streams or a shorter window`);
    this.windowsPerEpoch = Math.floor((positions - window) / stride) + 1;
  }

  windowAt(step: number): WindowPlan {
    if (!Number.isInteger(step) || step < 0) throw new ScheduleError(`step must be a non-negative integer, got ${step}`);
    const epoch = Math.floor(step / this.windowsPerEpoch);
    const index = step % this.windowsPerEpoch;
    return { step, epoch, index, start: index * this.config.stride };
  }

  /** Micro-batches of step s, as [first stream, count]. */
  microBatches(): Array<[number, number]> {
    const { streams, microBatch } = this.config;
    return Array.from({ length: streams / microBatch }, (_, m) => [m * microBatch, microBatch] as [number, number]);
  }

  /** Row offset, within the window, of the first scored step. */
  get scoredFrom(): number {
    return this.config.window - this.config.stride;
  }
}
