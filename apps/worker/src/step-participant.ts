/**
 * A worker's part in the steps of one experiment, driven by the coordinator's
 * control messages (DESIGN "One training step", steps 4–5). Messages are handled
 * one at a time, in arrival order; every one carries (experiment, generation, step)
 * and anything from a generation older than the newest seen is refused
 * (invariant 4).
 *
 *   generation g, members   adopt g: forget held gradients and any staged update of
 *                           older generations; if this worker is a member, take
 *                           the collective of the member list (rank = index)
 *   reduce g, s, count,     1. wait until the parameters are at version s
 *     accepted jobs
 *                           2. rank 0: write the checkpoint of version s when due
 *                           3. sum the gradients of the jobs of (g, s) whose
 *                              result was accepted from this worker (zeros if
 *                              none: every job counts once across the ring) and
 *                              all-reduce them, with a layout fingerprint, in the
 *                              network's parameter order — the same order on every
 *                              member (invariant 5; reduction-layout.ts); a member
 *                              whose layout differs makes every member fail
 *                              then wait for this worker's hidden-state writes of
 *                              (g, s) (a failed write fails the report)
 *                           4. stage the update (staged-update.ts): the committed
 *                              parameters do not change (invariant 3)
 *                           5. publish 'report' (ok, gradNorm, skipped, and the
 *                              timings reduceSeconds = wall time of the
 *                              all-reduce call, applySeconds = divide and norm)
 *                              — or ok false with the error, which names a dead
 *                              peer — as soon as the norm is known; the clip and
 *                              the optimizer (step 4's rest) run while the report
 *                              travels, before any other message is handled
 *                           count 0 (a step that scored nothing — an episode
 *                           dataset's padding, a many-to-one sequence not at
 *                           its end): steps 1–2, no all-reduce (every member
 *                           sees count 0, so none starts one), the writes
 *                           flushed, a no-op update staged (parameters and
 *                           optimizer as committed, as Trainer.runStep), report
 *                           ok with gradNorm 0
 *   reduce g, s, barrier    the closing barrier after the last commit: no
 *                           reduction; rank 0 writes the final checkpoint
 *   commit g, s             swap the staged parameters in: version s + 1
 *   abort g, s              throw the staged update and the held gradients away,
 *                           restore the optimizer
 * A 'reduce' seen twice (the coordinator resends until it has every report) gets
 * the same report again; a lost 'commit' is healed from the experiment record,
 * where the commit is durable.
 *
 * Starting the reduce without the coordinator's hop: the queue's completion events
 * (WindowQueue.watchCompleted) carry every window job's accepted result, the worker
 * included, which is all a 'reduce' says. When a member has seen the accepted
 * results of every micro-batch of (g, s) it builds that 'reduce' itself — count and
 * loss summed in micro-batch order, as the coordinator does — and handles it like
 * one from the coordinator (noteCompleted). The coordinator's own 'reduce' then
 * finds the report made and is not answered again the first time (the report went
 * out already and the coordinator keeps reports that arrive before it waits;
 * resends are answered). Every report names the accepted jobs it reduced
 * (acceptedDigest): the coordinator fails a step whose member reduced another set,
 * so the shortcut can never change what is summed.
 *
 * The state machine of a worker in an experiment — {@link MemberPhase}.
 */
import type { NamedArrays } from '@unroll/bptt';
import { PeerDeadlineError, type Collective, type StateSnapshot, type StateSource } from '@unroll/collective';
import { acceptedDigest, traceEvent, type AcceptedJob, type CompletedWindow, type ControlBus, type ControlMessage, type ExperimentStore, type WindowResult } from '@unroll/cluster';
import { checkpointDue, type CheckpointWriter } from './checkpoint-writer';
import { MissingContributionError, SessionReleasedError, type ExperimentSession, type VersionWait } from './experiment-session';
import { reductionBuffers } from './reduction-layout';
import { beginUpdate, unscoredUpdate } from './staged-update';

/**
 * Where a worker stands in one experiment.
 *
 *   Observer  ──generation naming it──▶  Ready
 *   Ready     ──reduce g,s──▶            Reducing
 *   Reducing  ──reduced, staged──▶       Staged      (report ok)
 *   Reducing  ──barrier──▶               Ready       (report ok)
 *   Reducing  ──error──▶                 Failed      (report not ok)
 *   Staged    ──commit g,s──▶            Ready       (version s + 1)
 *   Staged | Failed ──abort g,s──▶       Ready       (version s, staged work dropped)
 *   any       ──generation g' > g──▶     Ready or Observer (partial work dropped)
 */
export enum MemberPhase {
  /** Knows the experiment but is not a member of its current generation. */
  Observer = 'observer',
  /** A member; runs window jobs of the current step, keeping their gradients. */
  Ready = 'ready',
  /** In the all-reduce and update of a step. */
  Reducing = 'reducing',
  /** Update staged and reported; waits for commit or abort. */
  Staged = 'staged',
  /** The reduction failed and was reported; waits for abort or a new generation. */
  Failed = 'failed',
}

export type ReportMessage = Extract<ControlMessage, { type: 'report' }>;

/** A CollectiveProvider could not form the ring of a member list. */
export class RingFormationError extends Error {
  constructor(
    message: string,
    /** The member the ring could not be formed with (not alive), when it is one. */
    readonly member?: string,
  ) {
    super(message);
    this.name = 'RingFormationError';
  }
}

/** The collective of a member list, for this worker. */
export interface CollectiveProvider {
  /** The collective of `members` (rank = index) in which this worker is `members[rank]`; rejects with RingFormationError (naming the member, when one is missing) if it cannot be formed. */
  forMembers(experiment: string, members: readonly string[], rank: number): Promise<Collective>;
  /** Serves the committed state of this worker's experiments to joining members (absent: joiners are refused). */
  serveState?(source: StateSource): void;
  /** The committed state of `experiment` at `step`, from one of the members `from` (absent: this worker cannot join a run in progress). */
  fetchState?(experiment: string, generation: number, step: number, from: readonly string[]): Promise<StateSnapshot>;
}

export interface ParticipantContext {
  workerId: string;
  bus: Pick<ControlBus, 'publish'>;
  experiments: Pick<ExperimentStore, 'get'>;
  collectives: CollectiveProvider;
  checkpoints: CheckpointWriter;
  /** Wait for a version before a reduction. @defaultValue 60 s */
  versionTimeoutMs?: number;
  /** How often a wait for a version re-reads the experiment record. @defaultValue 250 ms */
  pollMs?: number;
  log?: (line: string) => void;
}

export class StepParticipant {
  phase = MemberPhase.Observer;
  generation = -1;
  members: readonly string[] = [];
  rank = -1;
  /** Messages refused for naming an older generation. */
  refused = 0;
  /** Seconds of the last staging, from the end of the all-reduce to the update staged (the report's applySeconds stops at the norm). */
  lastStageSeconds = Number.NaN;
  private collective: Collective | undefined;
  /** Why this generation has no ring here (forMembers failed); its reductions fail with it. */
  private ringError: Error | undefined;
  private readonly reports = new Map<string, ReportMessage>();
  /** Reduces started from the queue's events whose report the coordinator has not asked for yet. */
  private readonly startedHere = new Set<string>();
  /** Accepted results seen per `${generation}:${step}` (noteCompleted), until the step's reduce starts. */
  private readonly completed = new Map<string, Map<number, WindowResult>>();
  private chain: Promise<void> = Promise.resolve();
  /** The adoption in progress (adopt): the next one starts when it has settled. */
  private adopting: Promise<void> = Promise.resolve();
  /** Set by close. */
  private closed = false;

  constructor(
    readonly session: ExperimentSession,
    private readonly ctx: ParticipantContext,
  ) {}

  /** Queues a message; the promise settles when it has been handled. */
  receive(m: ControlMessage): Promise<void> {
    const run = this.chain.then(() => this.handle(m));
    this.chain = run.catch((e: unknown) => this.log(`error handling ${m.type} ${m.generation}/${m.step}: ${e instanceof Error ? e.message : String(e)}`));
    return run;
  }

  /**
   * A window job of this experiment was accepted (WindowQueue.watchCompleted). Once
   * every micro-batch of (g, s) is in, the step's 'reduce' is built here and handled
   * as if the coordinator had sent it.
   */
  noteCompleted(done: CompletedWindow): void {
    if (done.experiment !== this.session.id || done.generation !== this.generation || this.rank < 0 || done.step < this.session.version) return;
    const key = `${done.generation}:${done.step}`;
    if (this.reports.has(`${key}:reduce`)) return;
    let seen = this.completed.get(key);
    if (!seen) {
      for (const k of [...this.completed.keys()]) if (Number(k.split(':')[1]) < this.session.version) this.completed.delete(k);
      this.completed.set(key, (seen = new Map()));
    }
    seen.set(done.firstStream, done.result);
    traceEvent('job.seen', { g: done.generation, s: done.step, first: done.firstStream });
    const batches = this.session.schedule.microBatches();
    if (seen.size !== batches.length || !batches.every(([first]) => seen.has(first))) return;
    this.completed.delete(key);
    let count = 0;
    let lossSum = 0;
    const jobs: AcceptedJob[] = [];
    for (const [first] of batches) {
      const r = seen.get(first) as WindowResult;
      count += r.count;
      lossSum += r.lossSum;
      jobs.push({ firstStream: first, worker: r.worker });
    }
    const m: ControlMessage = { type: 'reduce', experiment: this.session.id, generation: done.generation, step: done.step, count, lossSum, jobs };
    const run = this.chain.then(() => this.handle(m, true));
    this.chain = run.catch((e: unknown) => this.log(`error handling the reduce of ${key} started from the queue's events: ${e instanceof Error ? e.message : String(e)}`));
  }

  /**
   * Waits for the parameters of version `step` of `generation`: the committed ones,
   * or this worker's staged update of step − 1 while its commit travels — see
   * ExperimentSession.awaitParams and window-executor.ts for how a window computed
   * on them is held back until that commit.
   */
  awaitParams(step: number, generation: number): Promise<{ params: NamedArrays; speculative: boolean }> {
    return this.session.awaitParams(step, generation, { ...this.versionWait(generation), speculate: true });
  }

  /** Adopts the generation of the experiment record (on joining, or when a message names a generation not yet seen). */
  async syncWithRecord(): Promise<void> {
    const record = await this.ctx.experiments.get(this.session.id);
    if (record && record.generation > this.generation) await this.adopt(record.generation, record.members);
    await this.adopting; // one begun by the other path: its ring is formed when this returns
  }

  /** The worker released this participant's session: messages still queued here are dropped, no generation is adopted. */
  close(): void {
    this.closed = true;
  }

  /** Waits until the committed parameters are at version `step`, applying a commit whose message was lost. */
  awaitVersion(step: number, generation?: number): Promise<void> {
    // A job's wait (with its generation) ends when a newer generation is adopted: a job
    // of step s + 1 enqueued ahead while step s reduced must not hold this worker's
    // job slot when step s fails and a new generation redoes it.
    return this.session.awaitVersion(step, this.versionWait(generation));
  }

  /** How this worker waits for a version; a wait for a job of `generation` ends when a newer generation is adopted. */
  private versionWait(generation: number | undefined): VersionWait {
    const cancelled = generation === undefined ? undefined : () => (this.generation > generation ? `generation ${this.generation} replaced generation ${generation}` : undefined);
    return { timeoutMs: this.ctx.versionTimeoutMs ?? 60_000, pollMs: this.ctx.pollMs ?? 250, heal: () => this.healCommit(), cancelled };
  }

  private async handle(m: ControlMessage, startedHere = false): Promise<void> {
    if (m.experiment !== this.session.id || this.closed) return;
    if (m.type === 'report') return; // addressed to the coordinator
    // An adoption begun by syncWithRecord sets the generation before its ring is formed: wait for it.
    await this.adopting;
    if (m.generation < this.generation) {
      this.refused++;
      this.log(`refused ${m.type} of generation ${m.generation} (step ${m.step}): generation ${this.generation} exists`);
      return;
    }
    if (m.generation > this.generation) {
      if (m.type === 'generation') await this.adopt(m.generation, m.members);
      else await this.syncWithRecord();
      if (m.generation !== this.generation) {
        this.log(`ignored ${m.type} of generation ${m.generation}: the experiment record is at generation ${this.generation}`);
        return;
      }
    }
    switch (m.type) {
      case 'generation':
        return;
      case 'reduce':
        return this.reduce(m.generation, m.step, m.count, m.jobs, m.barrier === true, startedHere);
      case 'commit':
        return this.commit(m.generation, m.step);
      case 'abort':
        return this.abort(m.generation, m.step, m.reason);
    }
  }

  /**
   * Takes on `generation`. Adoptions run one at a time and only forward: both the
   * message chain (a 'generation' message, or any message naming a newer one) and
   * syncWithRecord (the worker's announcement handler, load) adopt, and two
   * generations opened back to back (a recovery, then a joiner taken in) arrive by
   * both paths at once. Interleaved, the older one's ring — formed last — replaced the
   * newer one's, or its generation overwrote the newer number.
   */
  private adopt(generation: number, members: readonly string[]): Promise<void> {
    const run = this.adopting.then(() => this.adoptNow(generation, members));
    this.adopting = run.catch(() => undefined);
    return run;
  }

  private async adoptNow(generation: number, members: readonly string[]): Promise<void> {
    if (generation <= this.generation || this.closed) return; // adopted meanwhile, or a newer one was
    // A step committed just before the change (its 'commit' lost) is applied, not dropped.
    await this.healCommit();
    this.generation = generation;
    this.members = [...members];
    this.rank = members.indexOf(this.ctx.workerId);
    this.session.dropGenerationsBefore(generation);
    for (const key of [...this.reports.keys()]) if (Number(key.split(':')[0]) < generation) this.reports.delete(key);
    for (const key of [...this.startedHere]) if (Number(key.split(':')[0]) < generation) this.startedHere.delete(key);
    for (const key of [...this.completed.keys()]) if (Number(key.split(':')[0]) < generation) this.completed.delete(key);
    // Never the previous ring: its members are another generation's.
    this.collective = undefined;
    this.ringError = undefined;
    if (this.rank >= 0) {
      try {
        this.collective = await this.ctx.collectives.forMembers(this.session.id, members, this.rank);
      } catch (e) {
        // E.g. a member died between the generation's opening and now: this member's
        // reductions of the generation fail, naming it, instead of never reporting.
        this.ringError = e instanceof Error ? e : new Error(String(e));
        this.log(`no ring for generation ${generation}: ${this.ringError.message}`);
      }
    }
    this.phase = this.rank < 0 ? MemberPhase.Observer : MemberPhase.Ready;
    this.session.wake();
  }

  private async reduce(generation: number, step: number, count: number, accepted: readonly AcceptedJob[], barrier: boolean, startedHere = false): Promise<void> {
    if (this.rank < 0) return;
    const key = `${generation}:${step}:${barrier ? 'barrier' : 'reduce'}`;
    const previous = this.reports.get(key);
    if (previous) {
      // Started here: the report is out; the coordinator's first 'reduce' is not answered again (its resends are).
      if (startedHere || this.startedHere.delete(key)) return;
      return this.ctx.bus.publish(previous);
    }
    if (startedHere) this.startedHere.add(key);
    traceEvent('reduce.start', { g: generation, s: step, here: startedHere });
    this.completed.delete(`${generation}:${step}`);
    const digest = barrier ? undefined : acceptedDigest(accepted);
    this.phase = MemberPhase.Reducing;
    const s = this.session;
    let report: ReportMessage;
    try {
      await this.awaitVersion(step);
      if (barrier) {
        // The closing barrier: every commit is applied; rank 0 writes the final checkpoint.
        if (this.rank === 0 && s.version === s.spec.spec.steps) this.log(`checkpoint ${await this.ctx.checkpoints.write(s)}`);
        report = this.report(generation, step, { ok: true, gradNorm: 0, skipped: false, reduceSeconds: 0, applySeconds: 0 });
        this.phase = MemberPhase.Ready;
      } else if (count === 0) {
        // A step that scored nothing: no all-reduce on any member, no update (Trainer.runStep).
        if (this.rank === 0 && checkpointDue(s, s.version) && s.version < s.spec.spec.steps) this.log(`checkpoint ${await this.ctx.checkpoints.write(s)}`);
        const { missing } = s.takeContribution(generation, step, accepted, this.ctx.workerId);
        await s.flushWrites(generation, step);
        if (missing.length > 0) {
          throw new MissingContributionError(`the results of jobs ${missing.map((f) => `${generation}/${step}/streams ${f}+`).join(', ')} were accepted from ${this.ctx.workerId}, which holds no gradient for them`);
        }
        s.stage(unscoredUpdate({ generation, step }, s.params, s.optimizer, s.takePrepared()));
        report = this.report(generation, step, { ok: true, gradNorm: 0, skipped: false, reduceSeconds: 0, applySeconds: 0, jobs: digest });
        this.phase = MemberPhase.Staged;
      } else {
        if (this.rank === 0 && checkpointDue(s, s.version) && s.version < s.spec.spec.steps) this.log(`checkpoint ${await this.ctx.checkpoints.write(s)}`);
        const { grads, missing } = s.takeContribution(generation, step, accepted, this.ctx.workerId);
        const reduction = reductionBuffers(s.parameterOrder, grads);
        const t0 = performance.now();
        traceEvent('ar.start', { g: generation, s: step });
        const collective = this.collective;
        if (!collective) throw this.ringError ?? new Error(`no ring for generation ${generation}`);
        await collective.allReduceSum({ experiment: s.id, generation, step }, reduction.buffers);
        const t1 = performance.now();
        traceEvent('ar.end', { g: generation, s: step });
        reduction.verify(collective.size);
        // The hidden states this worker's jobs of the step wrote are stored before it reports (window-executor.ts).
        await s.flushWrites(generation, step);
        // Reduced anyway, so that no member waits on a reduction this one never starts; the sum lacks these jobs.
        if (missing.length > 0) {
          throw new MissingContributionError(`the results of jobs ${missing.map((f) => `${generation}/${step}/streams ${f}+`).join(', ')} were accepted from ${this.ctx.workerId}, which holds no gradient for them`);
        }
        // The report goes out as soon as the norm is known (the update is then fixed:
        // the reduced gradient, the committed parameters and the optimizer's state
        // determine it); the optimizer runs while the report travels and the
        // coordinator commits. All of it is synchronous between the publish call and
        // the await below, so no other message or job sees the step half staged, and
        // the 'commit' is handled (in arrival order, after this) with the update staged.
        const begun = beginUpdate({ generation, step }, s.params, s.optimizer, grads, count, s.spec.spec.clipNorm ?? undefined, s.takePrepared());
        const timings = { reduceSeconds: (t1 - t0) / 1000, applySeconds: (performance.now() - t1) / 1000 };
        report = this.report(generation, step, { ok: true, gradNorm: begun.gradNorm, skipped: begun.skipped, ...timings, jobs: digest });
        this.reports.set(key, report);
        traceEvent('report', { g: generation, s: step });
        const sent = this.ctx.bus.publish(report);
        try {
          // Cannot fail for a layout that passed verify(); if it ever did, this member
          // could not apply the commit: it stays Failed, and its next job or reduce
          // times out waiting for the version, which the coordinator sees.
          s.stage(begun.finish());
          this.phase = MemberPhase.Staged;
        } catch (e) {
          this.phase = MemberPhase.Failed;
          this.log(`staging step ${step} after its report failed: ${e instanceof Error ? e.message : String(e)}`);
        }
        this.lastStageSeconds = (performance.now() - t1) / 1000;
        traceEvent('staged', { g: generation, s: step });
        await sent;
        return;
      }
    } catch (e) {
      // Released (the worker loads the experiment again): the session loaded anew answers this reduce, not this one.
      if (e instanceof SessionReleasedError && e.reloading) {
        this.log(`the reduce of ${generation}/${step} left to the session loaded again: ${e.message}`);
        return;
      }
      // A dead or late ring peer is named by its worker id, which is what the coordinator and the user know.
      const peer = e instanceof PeerDeadlineError ? this.members[e.peer.rank] : e instanceof RingFormationError ? e.member : undefined;
      const error = `${e instanceof PeerDeadlineError && peer !== undefined ? `ring peer ${peer} ` : ''}${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
      report = this.report(generation, step, { ok: false, gradNorm: Number.NaN, skipped: false, reduceSeconds: Number.NaN, applySeconds: Number.NaN, error: `worker ${this.ctx.workerId}: ${error}`, ...(peer !== undefined ? { peer } : {}) });
      this.phase = MemberPhase.Failed;
    }
    this.reports.set(key, report);
    await this.ctx.bus.publish(report);
  }

  private async commit(generation: number, step: number): Promise<void> {
    const staged = this.session.staged;
    traceEvent('commit.recv', { g: generation, s: step });
    if (staged && staged.generation === generation && staged.step === step) {
      this.session.commit(generation, step);
      this.phase = MemberPhase.Ready;
      traceEvent('commit.applied', { g: generation, s: step });
    } else if (this.session.version > step) {
      return; // a resent commit, already applied
    } else if (this.rank >= 0) {
      this.log(`commit of ${generation}/${step} with nothing staged for it (version ${this.session.version})`);
    }
    for (const key of [...this.reports.keys()]) if (Number(key.split(':')[1]) < step) this.reports.delete(key);
    for (const key of [...this.startedHere]) if (Number(key.split(':')[1]) < step) this.startedHere.delete(key);
  }

  private async abort(generation: number, step: number, reason: string): Promise<void> {
    const staged = this.session.staged;
    if (staged && staged.generation === generation && staged.step === step) this.session.rollback();
    this.session.dropContribution(generation, step);
    this.reports.delete(`${generation}:${step}:reduce`);
    this.startedHere.delete(`${generation}:${step}:reduce`);
    if (this.rank >= 0) this.phase = MemberPhase.Ready;
    this.log(`step ${step} of generation ${generation} aborted: ${reason}`);
  }

  /**
   * Applies the staged update if the experiment record says its step is committed
   * (the 'commit' message was lost). A step is committed under the generation that
   * reduced it (the commit is fenced), so a record past the staged step — in the
   * staged generation or a later one opened after the commit — means this update.
   */
  private async healCommit(): Promise<void> {
    const staged = this.session.staged;
    if (!staged) return;
    const record = await this.ctx.experiments.get(this.session.id);
    if (record && record.step > staged.step && record.generation >= staged.generation && this.session.staged === staged) {
      this.session.commit(staged.generation, staged.step);
      this.phase = MemberPhase.Ready;
    }
  }

  private report(generation: number, step: number, r: Omit<ReportMessage, 'type' | 'experiment' | 'generation' | 'step' | 'member'>): ReportMessage {
    return { type: 'report', experiment: this.session.id, generation, step, member: this.ctx.workerId, ...r };
  }

  private log(line: string): void {
    this.ctx.log?.(`[${this.ctx.workerId}] ${this.session.id}: ${line}`);
  }
}
