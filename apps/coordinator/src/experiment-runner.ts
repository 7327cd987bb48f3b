/**
 * Runs one submitted experiment to its end, from its durable record:
 *
 *   1. read the record and parse its spec (a spec that does not parse fails the
 *      experiment with the spec's own message);
 *   2. status running; subscribe to the experiment's control channel (reports);
 *   3. form the ring: wait for spec.workers.min alive workers, take up to
 *      spec.workers.max of them, ordered by id (rank = index);
 *   4. open a generation (ExperimentStore.newGeneration: the fencing token every
 *      later message carries) and publish it — 'generation' with the member list on
 *      the experiment's channel, and the announcement on the cluster channel;
 *   5. for every step from the record's step to spec.steps: run it (step-driver.ts),
 *      stopping if the record was cancelled meanwhile;
 *   6. the closing barrier: every member applied the last commit and rank 0 wrote
 *      the final checkpoint;
 *   7. status succeeded and the experiment's hidden states deleted — or, on any
 *      error, status failed with the error's message (naming a lost worker).
 *
 * The state machine of an experiment — {@link ExperimentPhase}.
 */
import { TbpttSchedule, tbpttConfig } from '@unroll/bptt';
import type { ControlBus, ExperimentStore, HiddenStateStore, WindowQueue } from '@unroll/cluster';
import { parseSpec, type ExperimentSpec } from '@unroll/spec';
import { announcement } from './cluster-channel';
import { CoordinatorError, type MembershipWatcher } from './membership-watcher';
import { ReportCollector } from './report-collector';
import { StepDriver, type StepDriverOptions, type StepOutcome } from './step-driver';

/**
 *   Queued ──taken from the queue──▶ Forming ──min workers alive──▶ Computing
 *   Computing ──every window job done──▶ Reducing ──every member reported ok──▶ Committing
 *   Committing ──s + 1 < steps──▶ Computing
 *   Committing ──s + 1 = steps──▶ Finishing ──barrier passed──▶ Succeeded
 *   Forming | Computing | Reducing | Committing | Finishing ──error, lost worker, timeout──▶ Failed
 *   Computing ──record cancelled──▶ Cancelled
 * (A lost worker will open a new generation and redo the step instead of failing —
 * not yet; a membership change is not a failure.)
 */
export enum ExperimentPhase {
  Queued = 'queued',
  Forming = 'forming',
  Computing = 'computing',
  Reducing = 'reducing',
  Committing = 'committing',
  Finishing = 'finishing',
  Succeeded = 'succeeded',
  Failed = 'failed',
  Cancelled = 'cancelled',
}

export class ExperimentCancelledError extends CoordinatorError {}

export interface ExperimentRunnerDeps {
  experiments: ExperimentStore;
  states: HiddenStateStore;
  bus: ControlBus;
  windows: WindowQueue;
  watcher: MembershipWatcher;
}

export interface ExperimentRunnerOptions extends StepDriverOptions {
  /** Told of every committed step. */
  onStep?: (experiment: string, outcome: StepOutcome, total: number) => void;
  log?: (line: string) => void;
}

export class ExperimentRunner {
  /** Phase of the experiment being run, by id (for status and tests). */
  readonly phases = new Map<string, ExperimentPhase>();

  constructor(
    private readonly deps: ExperimentRunnerDeps,
    private readonly options: ExperimentRunnerOptions = {},
  ) {}

  async run(id: string): Promise<ExperimentPhase> {
    const record = await this.deps.experiments.get(id);
    if (!record) {
      this.log(`experiment ${id} has no record; skipped`);
      return ExperimentPhase.Failed;
    }
    if (record.status === 'succeeded' || record.status === 'failed' || record.status === 'cancelled') return record.status as ExperimentPhase;
    this.phases.set(id, ExperimentPhase.Queued);
    const reports = new ReportCollector(id, (line) => this.log(`${id}: ${line}`));
    let unsubscribe: (() => Promise<void>) | undefined;
    let closeDriver: (() => void) | undefined;
    try {
      const spec: ExperimentSpec = parseSpec(record.specYaml, `experiment ${id}`);
      await this.deps.experiments.setStatus(id, 'running');
      unsubscribe = await this.deps.bus.subscribe(id, (m) => reports.onMessage(m));

      this.phases.set(id, ExperimentPhase.Forming);
      const members = await this.deps.watcher.form(spec.spec.workers, id);
      const generation = await this.deps.experiments.newGeneration(id, members);
      reports.generation = generation;
      await this.deps.bus.publish({ type: 'generation', experiment: id, generation, step: record.step, members });
      await this.deps.bus.publish(announcement(id, generation, record.step));
      this.log(`${id}: generation ${generation}, members ${members.join(', ')}`);

      const driver = new StepDriver({ ...this.deps, reports }, this.options);
      closeDriver = () => driver.close();
      // The micro-batches depend on the tbptt config alone, not on the data length.
      const microBatches = new TbpttSchedule(tbpttConfig(spec), spec.spec.tbptt.window).microBatches();
      const total = spec.spec.steps;
      for (let step = record.step; step < total; step++) {
        if ((await this.deps.experiments.get(id))?.status === 'cancelled') throw new ExperimentCancelledError(`experiment ${id} was cancelled at step ${step}`);
        this.phases.set(id, ExperimentPhase.Computing);
        const outcome = await driver.runStep({ experiment: id, generation, step, members }, microBatches, { enqueueNext: step + 1 < total });
        this.options.onStep?.(id, outcome, total);
      }
      this.phases.set(id, ExperimentPhase.Finishing);
      await driver.barrier({ experiment: id, generation, step: total, members });
      await this.deps.experiments.setStatus(id, 'succeeded');
      await this.deps.states.deleteAll(id);
      this.phases.set(id, ExperimentPhase.Succeeded);
      return ExperimentPhase.Succeeded;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const cancelled = e instanceof ExperimentCancelledError;
      this.log(`${id}: ${cancelled ? 'cancelled' : 'failed'}: ${message}`);
      if (!cancelled) await this.deps.experiments.setStatus(id, 'failed', message).catch(() => undefined);
      const phase = cancelled ? ExperimentPhase.Cancelled : ExperimentPhase.Failed;
      this.phases.set(id, phase);
      return phase;
    } finally {
      closeDriver?.(); // jobs enqueued ahead for a step that will not run are withdrawn
      await unsubscribe?.().catch(() => undefined);
    }
  }

  private log(line: string): void {
    this.options.log?.(line);
  }
}
