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
 *      stopping if the record was cancelled meanwhile. A member lost during a step
 *      (its registration expired — no heartbeat — or was withdrawn: by the worker
 *      when it stopped, or by a ring peer that found its ring port closed) does not end the
 *      run while workers.min members are left and restarts remain (maxRestarts):
 *      a new generation of the survivors is opened (its fencing token makes every
 *      message and job of the old one void), and the step is redone from the
 *      record — nothing of it was committed (invariant 3), and its global batch
 *      does not depend on how many workers compute it (invariant 1). A step whose
 *      commit landed before the failure is not redone: survivors that missed the
 *      commit message apply it from the record when they adopt the generation.
 *      Workers alive beyond the members join at a step boundary, up to workers.max
 *      (a new generation; they take the committed state from a member);
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
import { CoordinatorError, MemberLostError, sleep, type MembershipWatcher } from './membership-watcher';
import { ReportCollector } from './report-collector';
import { StepDriver, StepFailedError, type StepDriverOptions, type StepOutcome } from './step-driver';

/**
 *   Queued ──taken from the queue──▶ Forming ──min workers alive──▶ Computing
 *   Computing ──every window job done──▶ Reducing ──every member reported ok──▶ Committing
 *   Committing ──s + 1 < steps──▶ Computing
 *   Committing ──s + 1 = steps──▶ Finishing ──barrier passed──▶ Succeeded
 *   Forming | Computing | Reducing | Committing | Finishing ──error, lost worker, timeout──▶ Failed
 *   Computing ──record cancelled──▶ Cancelled
 *   Computing | Reducing | Committing ──member lost, ≥ workers.min left, restarts left──▶ Recovering
 *   Recovering ──new generation of the survivors opened──▶ Computing (the record's step, redone)
 *   Computing ──workers alive beyond the members, fewer than workers.max──▶ a new
 *     generation with them appended, at the next step boundary (at most every
 *     joinCheckMs); the joiners take the committed parameters and optimizer state from
 *     a member over gRPC (apps/worker state-snapshot.ts) before their first window
 */
export enum ExperimentPhase {
  Queued = 'queued',
  Forming = 'forming',
  Computing = 'computing',
  Reducing = 'reducing',
  Committing = 'committing',
  Recovering = 'recovering',
  Finishing = 'finishing',
  Succeeded = 'succeeded',
  Failed = 'failed',
  Cancelled = 'cancelled',
}

export class ExperimentCancelledError extends CoordinatorError {}

/** How long a failed step that names no suspect is watched for a member leaving before it ends the run. */
const NO_SUSPECT_GRACE_MS = 1000;

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
  /**
   * How often, at most, a step boundary looks for alive workers that are not members
   * (admitted up to workers.max: a new generation; they fetch the committed state from
   * a member). @defaultValue 1000 ms
   */
  joinCheckMs?: number;
  /** New generations opened to recover from lost members, per experiment run, before it fails (torchrun's --max-restarts). @defaultValue 3 */
  maxRestarts?: number;
  /**
   * After a step failed naming a suspect (a member reported a dead or late ring
   * peer, or a report never came), how long to wait
   * for a member's registration to go before deciding nobody was lost (the failure
   * then ends the run). A peer whose ring port refuses connections is withdrawn by
   * the member that found it at once; otherwise this waits for the heartbeat's
   * expiry. @defaultValue 15 s — past the workers' 10 s heartbeat TTL
   */
  lossGraceMs?: number;
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
      let members = await this.deps.watcher.form(spec.spec.workers, id);
      let generation = await this.openGeneration(id, members, record.step, reports);

      const driver = new StepDriver({ ...this.deps, reports }, this.options);
      closeDriver = () => driver.close();
      // The micro-batches depend on the tbptt config alone, not on the data length.
      const microBatches = new TbpttSchedule(tbpttConfig(spec), spec.spec.tbptt.window).microBatches();
      const total = spec.spec.steps;
      let restarts = 0;
      let joinCheckAt = Date.now() + this.joinCheckMs;
      for (let step = record.step; step < total; ) {
        if ((await this.deps.experiments.get(id))?.status === 'cancelled') throw new ExperimentCancelledError(`experiment ${id} was cancelled at step ${step}`);
        // Workers that came up during the run join at a step boundary, up to workers.max.
        if (members.length < spec.spec.workers.max && step > record.step && Date.now() >= joinCheckAt) {
          joinCheckAt = Date.now() + this.joinCheckMs;
          const joiners = (await this.deps.watcher.alive()).filter((w) => !members.includes(w)).slice(0, spec.spec.workers.max - members.length);
          if (joiners.length > 0) {
            members = [...members, ...joiners];
            generation = await this.openGeneration(id, members, step, reports);
            this.log(`${id}: ${joiners.join(', ')} joined at step ${step}; ${members.length} members`);
          }
        }
        this.phases.set(id, ExperimentPhase.Computing);
        try {
          const outcome = await driver.runStep({ experiment: id, generation, step, members }, microBatches, { enqueueNext: step + 1 < total });
          this.options.onStep?.(id, outcome, total);
          step++;
        } catch (e) {
          // Cancelled while the step ran (its remaining window jobs are then refused): the run ends as cancelled, not failed.
          if ((await this.deps.experiments.get(id))?.status === 'cancelled') throw new ExperimentCancelledError(`experiment ${id} was cancelled at step ${step}`);
          this.phases.set(id, ExperimentPhase.Recovering);
          members = await this.survivors(id, spec, members, e, restarts);
          restarts++;
          // The record says where to go on: the failed step, or the next one if its commit landed.
          step = (await this.deps.experiments.get(id))?.step ?? step;
          generation = await this.openGeneration(id, members, step, reports);
          this.log(`${id}: recovered (${restarts} of ${this.maxRestarts} restarts): step ${step} redone by ${members.length} member${members.length > 1 ? 's' : ''}`);
        }
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

  private get joinCheckMs(): number {
    return this.options.joinCheckMs ?? 1000;
  }

  private get maxRestarts(): number {
    return this.options.maxRestarts ?? 3;
  }

  /** Opens a generation of `members` (the fencing token of everything after) and announces it. */
  private async openGeneration(id: string, members: string[], step: number, reports: ReportCollector): Promise<number> {
    const generation = await this.deps.experiments.newGeneration(id, members);
    reports.generation = generation;
    await this.deps.bus.publish({ type: 'generation', experiment: id, generation, step, members });
    await this.deps.bus.publish(announcement(id, generation, step));
    this.log(`${id}: generation ${generation}, members ${members.join(', ')}`);
    return generation;
  }

  /**
   * The members left after `failure`, when the run can go on without the lost ones;
   * otherwise `failure` itself (or why it cannot recover) is thrown. Only a lost
   * member is recovered from: a registration that expired or was withdrawn
   * (MemberLostError), or — after a step failed naming a suspect (a ring peer a
   * failed report named, a member whose report never came) — a member whose
   * registration goes within lossGraceMs. A failed step that names no suspect is
   * looked at for NO_SUSPECT_GRACE_MS (1 s) only. Any other failure ends the run.
   */
  private async survivors(id: string, spec: ExperimentSpec, members: string[], failure: unknown, restarts: number): Promise<string[]> {
    if (!(failure instanceof MemberLostError || failure instanceof StepFailedError)) throw failure;
    let lost = failure instanceof MemberLostError ? failure.members : await this.deps.watcher.lost(members);
    // A failure that names no suspect (a refused chunk, another set of jobs reduced) lost nobody: it is
    // looked at for NO_SUSPECT_GRACE_MS only (a withdrawal by a ring peer that found a member gone
    // lands within it), not for the heartbeat's TTL.
    const suspected = failure instanceof StepFailedError && failure.suspects.length > 0;
    const deadline = Date.now() + (suspected ? (this.options.lossGraceMs ?? 15_000) : NO_SUSPECT_GRACE_MS);
    while (lost.length === 0 && Date.now() < deadline) {
      await sleep(250);
      lost = await this.deps.watcher.lost(members);
    }
    if (lost.length === 0) throw failure;
    const left = members.filter((m) => !lost.includes(m));
    const message = failure instanceof Error ? failure.message : String(failure);
    if (left.length < spec.spec.workers.min) throw new CoordinatorError(`${message}; ${left.length} member${left.length === 1 ? '' : 's'} left, workers.min is ${spec.spec.workers.min}: cannot go on`);
    if (restarts >= this.maxRestarts) throw new CoordinatorError(`${message}; no restarts left (${this.maxRestarts} used)`);
    this.log(`${id}: lost ${lost.join(', ')} (${message}); going on with ${left.join(', ')}`);
    return left;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }
}
