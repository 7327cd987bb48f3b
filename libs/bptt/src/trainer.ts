/**
 * The single-process step loop of truncated BPTT.
 *
 * Step s (see TbpttSchedule):
 *   1. for each micro-batch of streams: load its state for step s (zeros at an
 *      epoch's first window), run the window job, add its gradient into the
 *      accumulator, store its carried state for step s + 1;
 *   2. divide the summed gradient by the step's loss count, measure the global and
 *      per-layer norms, check for NaN/Inf (skip the step and count it), clip to
 *      clipNorm;
 *   3. the optimizer updates the host copy of the parameters, which is then written
 *      to the network: parameters change only here, once per step.
 * Micro-batching changes nothing but memory: the same update as one big batch.
 */
import { tf, type NetworkState, type RecurrentNetwork } from '@unroll/models';
import { clipByGlobalNorm, gradientStats, scale, zerosLike, type NamedArrays } from './gradients';
import type { LossKind } from './losses';
import type { Optimizer } from './optimizers';
import { TbpttSchedule, type TbpttConfig } from './schedule';
import type { SequenceData } from './sequence-data';
import { InMemoryStateStore, joinStates, MissingStateError, sliceState, type StreamStateStore } from './state-store';
import { windowGradients, windowLoss } from './window-gradients';

export interface TrainerOptions {
  net: RecurrentNetwork;
  data: SequenceData;
  tbptt: TbpttConfig;
  loss: LossKind;
  optimizer: Optimizer;
  /** Global-norm clipping threshold; undefined: no clipping. */
  clipNorm?: number;
  /** @defaultValue an InMemoryStateStore */
  store?: StreamStateStore;
  /** The first step to run (when resuming). @defaultValue 0 */
  startStep?: number;
}

/** Gradient flow across time: ‖∂L/∂h‖ at lag 1, 2, 4, … back from the window's end. */
export interface FlowPoint {
  lag: number;
  norm: number;
}

export interface StepResult {
  step: number;
  epoch: number;
  window: number;
  /** Mean loss over the step's scored positions; 0 when the step scored none (tokens 0). */
  loss: number;
  /** Scored positions (tokens for a language model). */
  tokens: number;
  gradNorm: number;
  clippedNorm: number;
  clipped: boolean;
  /** True when the gradient was not finite and the update was skipped. */
  skipped: boolean;
  layerNorms: Record<string, number>;
  /** Per layer (rnn.l0, rnn.l1, …). */
  flow: Record<string, FlowPoint[]>;
  seconds: { compute: number; apply: number };
}

export function flowAtLags(perStep: Float64Array): FlowPoint[] {
  const out: FlowPoint[] = [];
  for (let lag = 1; lag <= perStep.length; lag *= 2) out.push({ lag, norm: perStep[perStep.length - lag] });
  return out;
}

export class Trainer {
  readonly schedule: TbpttSchedule;
  readonly store: StreamStateStore;
  /** Host copy of the parameters: the source of truth the optimizer updates. */
  readonly params: NamedArrays;
  /**
   * The step's gradient accumulator, zeroed at each step and reused: windows add into
   * it (windowGradients addInto), so a step allocates no gradient-sized array.
   */
  private readonly grad: NamedArrays;
  private nextStep: number;
  private skippedSteps = 0;
  private clippedSteps = 0;

  constructor(private readonly opts: TrainerOptions) {
    this.schedule = new TbpttSchedule(opts.tbptt, opts.data.positions);
    if (opts.data.streams !== opts.tbptt.streams) throw new RangeError(`data has ${opts.data.streams} streams, tbptt.streams is ${opts.tbptt.streams}`);
    this.store = opts.store ?? new InMemoryStateStore();
    this.params = opts.net.snapshot();
    this.grad = zerosLike(new Map([...this.params].map(([n, a]) => [n, a.length])));
    this.nextStep = opts.startStep ?? 0;
  }

  get step(): number {
    return this.nextStep;
  }

  get counters(): { skipped: number; clipped: number } {
    return { skipped: this.skippedSteps, clipped: this.clippedSteps };
  }

  /** State of streams [first, first + count) at the start of `step`. */
  stateAt(first: number, count: number, step: number): NetworkState {
    const plan = this.schedule.windowAt(step);
    if (plan.index === 0) return this.opts.net.zeroState(count);
    const s = this.store.get(first, count, step);
    if (!s) throw new MissingStateError(`no hidden state stored for streams [${first}, ${first + count}) at step ${step}`);
    return s;
  }

  runStep(): StepResult {
    const { net, data, loss, optimizer, clipNorm } = this.opts;
    const step = this.nextStep;
    const plan = this.schedule.windowAt(step);
    const { window: k2, stride: k1 } = this.opts.tbptt;
    const t0 = performance.now();
    const acc = this.grad;
    for (const a of acc.values()) a.fill(0);
    const flowSq: Float64Array[] = [];
    let lossSum = 0;
    let count = 0;
    for (const [first, n] of this.schedule.microBatches()) {
      const job = windowGradients(net, data.window(first, n, plan.start, k2), this.stateAt(first, n, step), {
        loss,
        scoredFrom: this.schedule.scoredFrom,
        carryAt: k1 - 1,
        addInto: acc,
      });
      lossSum += job.lossSum;
      count += job.count;
      job.flow.forEach((f, k) => {
        flowSq[k] ??= new Float64Array(f.length);
        for (let t = 0; t < f.length; t++) flowSq[k][t] += f[t] * f[t];
      });
      this.store.put(first, n, step + 1, job.carry);
    }
    const t1 = performance.now();
    // A step may score nothing (a many-to-one task whose every stream is inside a
    // sequence, before its end): no loss, no gradient, no update — the state still moves on.
    const unscored = count === 0;
    if (!unscored) scale(acc, 1 / count);
    const stats = gradientStats(acc);
    let clippedNorm = stats.norm;
    let clipped = false;
    if (unscored) {
      // Nothing to apply; not a skipped (non-finite) step either.
    } else if (!stats.finite) {
      this.skippedSteps++;
    } else {
      const factor = clipByGlobalNorm(acc, stats.norm, clipNorm);
      clipped = factor < 1;
      if (clipped) this.clippedSteps++;
      clippedNorm = stats.norm * factor;
      optimizer.step(this.params, acc);
      this.writeParams();
    }
    this.store.prune(step + 1);
    this.nextStep = step + 1;
    const flow: Record<string, FlowPoint[]> = {};
    if (!unscored) flowSq.forEach((sq, k) => (flow[`rnn.l${k}`] = flowAtLags(sq.map((v) => Math.sqrt(v) / count))));
    return {
      step,
      epoch: plan.epoch,
      window: plan.index,
      loss: unscored ? 0 : lossSum / count,
      tokens: count,
      gradNorm: stats.norm,
      clippedNorm,
      clipped,
      skipped: !stats.finite,
      layerNorms: stats.layerNorms,
      flow,
      seconds: { compute: (t1 - t0) / 1000, apply: (performance.now() - t1) / 1000 },
    };
  }

  /** The hidden state of every stream at the start of the next step, [S, H] per layer. */
  streamStates(): NetworkState {
    return joinStates(this.schedule.microBatches().map(([first, n]) => this.stateAt(first, n, this.nextStep)));
  }

  /** Resumes at `step` with the given stream states ([S, H] per layer) and counters. */
  restore(step: number, streams: NetworkState, counters: { skipped: number; clipped: number }): void {
    this.nextStep = step;
    this.skippedSteps = counters.skipped;
    this.clippedSteps = counters.clipped;
    const H = this.opts.net.config.hidden;
    for (const [first, n] of this.schedule.microBatches()) this.store.put(first, n, step, sliceState(streams, first, n, H));
  }

  /** Copies the host parameters into the network's variables. */
  writeParams(): void {
    const { net } = this.opts;
    for (const spec of net.specs) {
      const v = net.param(spec.name);
      const t = tf.tensor(this.params.get(spec.name) as Float32Array, spec.shape);
      v.assign(t);
      t.dispose();
    }
  }

  /** Replaces parameters (resume): host copy and network. */
  loadParams(values: ReadonlyMap<string, Float32Array>): void {
    for (const [name, a] of this.params) {
      const src = values.get(name);
      if (!src || src.length !== a.length) throw new RangeError(`parameter ${name} missing or of the wrong size`);
      a.set(src);
    }
    this.writeParams();
  }
}

export interface EvalResult {
  loss: number;
  tokens: number;
  bitsPerToken: number;
}

/**
 * Mean loss over every position of every stream: windows of `window` steps, the
 * state carried from a zero start, the last window shortened to fit.
 */
export function evaluate(net: RecurrentNetwork, data: SequenceData, window: number, loss: LossKind, maxWindows?: number): EvalResult {
  let state = net.zeroState(data.streams);
  let lossSum = 0;
  let count = 0;
  let windows = 0;
  for (let start = 0; start < data.positions; start += window) {
    if (maxWindows !== undefined && windows >= maxWindows) break;
    const T = Math.min(window, data.positions - start);
    const r = windowLoss(net, data.window(0, data.streams, start, T), state, loss);
    lossSum += r.lossSum;
    count += r.count;
    state = r.carry;
    windows++;
  }
  const mean = lossSum / count;
  return { loss: mean, tokens: count, bitsPerToken: mean / Math.LN2 };
}
