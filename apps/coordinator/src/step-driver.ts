/**
 * One training step across the ring, as the coordinator drives it (DESIGN "One
 * training step"). Every message carries (experiment, generation, step).
 *
 *   1. Enqueue one window job per micro-batch — the same jobs whatever the number
 *      of workers (invariant 1) — as one flow; wait until every job is done. With
 *      enqueueNext, step s + 1's flow is added as soon as step s's jobs are done:
 *      workers take those jobs during step s's reduce and wait for its commit
 *      before computing (window-executor.ts); if step s fails they are withdrawn,
 *      and a worker waiting on one is released by the next generation.
 *   2. Publish 'reduce' with the step's token count and loss sum (summed over the
 *      job results in micro-batch order) and, per job, the worker whose result the
 *      queue accepted: each member reduces exactly the jobs accepted from it, so a
 *      job that ran on two workers (a stalled lock) counts once.
 *   3. Wait for every member's 'report'. While waiting, resend 'reduce' and the
 *      generation's announcement every resendMs: pub/sub keeps nothing, and a
 *      member that missed either would otherwise never answer.
 *   4. If a member reports a failure: publish 'abort' and fail the step with its
 *      error (which names a dead peer when the all-reduce lost one).
 *   5. Commit: compare-and-set the experiment record from step s to s + 1 under
 *      this generation (ExperimentStore.commit; a newer generation makes it fail
 *      with FencingError) — the commit is durable from here on.
 *   6. Publish 'commit'; members swap their staged parameters in.
 *   7. Delete the hidden states of steps < s + 1.
 * At any point, a member whose registration expires (no heartbeat) or is withdrawn
 * (a ring peer found it gone) ends the step with an error naming it
 * (membership-watcher.ts), and every wait has a deadline: no hang.
 *
 * A step that scores nothing (count 0: an episode dataset's padding, or a
 * many-to-one sequence not yet at its end) is driven the same way: members run no
 * all-reduce (every one sees count 0) and stage no update, and the commit advances
 * the version with the parameters unchanged — what Trainer.runStep does; its loss
 * is 0, as there.
 *
 * The closing barrier (after the last commit) is a 'reduce' with `barrier` set: members
 * check they applied every commit, rank 0 writes the final checkpoint, all report.
 */
import { acceptedDigest, traceEvent, type ControlBus, type ControlMessage, type ExperimentStore, type HiddenStateStore, type WindowJob, type WindowQueue, type WindowResult } from '@unroll/cluster';
import { announcement } from './cluster-channel';
import { CoordinatorError, MemberLostError, type MembershipWatcher } from './membership-watcher';
import type { Report, ReportCollector } from './report-collector';

/**
 * A step failed: a member reported a failed reduction, or a report did not come.
 * `suspects` are the members that may have died — a ring peer a failed report named,
 * or a member whose report never came; empty when the failure names none (a refused
 * chunk, a member that reduced another set of jobs): then no member was lost.
 */
export class StepFailedError extends CoordinatorError {
  constructor(
    message: string,
    readonly suspects: readonly string[] = [],
  ) {
    super(message);
  }
}

export interface StepContext {
  experiment: string;
  generation: number;
  step: number;
  /** Ring order (rank = index). */
  members: readonly string[];
}

export interface StepOutcome {
  step: number;
  /** Mean loss over the step's scored positions; 0 when it scored none (tokens 0). */
  loss: number;
  tokens: number;
  gradNorm: number;
  skipped: boolean;
  /** Which worker ran each micro-batch, in micro-batch order (the result BullMQ accepted). */
  workers: string[];
  /** The coordinator's phases: enqueue → every job done → every report in → committed, announced and old states deleted. */
  seconds: { jobs: number; reduce: number; commit: number };
  timings: StepTimings;
}

/**
 * Where the time of one step went (read by the benchmarks, bench/cluster). All in
 * seconds; wall-clock (performance.now()) intervals unless said otherwise.
 *
 *   wallSeconds       the coordinator's enqueue of the step's jobs — or, for jobs
 *                     enqueued ahead, the previous step's commit published, if
 *                     later — → the durable commit published ('commit' sent;
 *                     members swap in). With jobs enqueued ahead it includes the
 *                     runner's work between steps (old hidden states deleted,
 *                     record read), so consecutive walls tile the run.
 *   queueWaitSeconds  enqueue → the first window job of the step received by a
 *                     worker's handler: the queue's hand-out latency. Compares the
 *                     coordinator's Date.now() with the worker's, so it is exact on
 *                     one host and off by the clock skew across hosts; NaN when a
 *                     result carries no startedAt.
 *   jobs              per micro-batch, in micro-batch order: the worker whose result
 *                     was accepted, its computeSeconds (forward + backward of the
 *                     window as the worker's event loop waits for it — with the
 *                     compute thread, including the hand-off: the state, and the
 *                     parameters once per step — plus a worker's --throttle-ms
 *                     sleep, which emulates a slower device) and startSeconds
 *                     (enqueue → its handler got it; same clock caveat; NaN if
 *                     unknown). Hidden-state reads and writes are not in it.
 *   members           per member, in ring order: reduceSeconds (wall time of its
 *                     all-reduce call — it includes waiting for the last member to
 *                     enter the ring, e.g. while rank 0 writes a checkpoint) and
 *                     applySeconds (staging: divide, norms, clip, optimizer).
 *   overheadSeconds   wallSeconds − max over members of (that member's summed
 *                     computeSeconds) − max over members of reduceSeconds: what the
 *                     protocol costs beyond the critical compute path and the
 *                     slowest reduction — queue latency, hidden-state I/O, waits for
 *                     the previous commit, control messages, staging, the commit
 *                     CAS. It is a lower bound of the non-compute time when the
 *                     busiest member's jobs overlapped nothing else, and can only
 *                     be negative through clock noise.
 */
export interface StepTimings {
  wallSeconds: number;
  queueWaitSeconds: number;
  jobs: Array<{ firstStream: number; worker: string; computeSeconds: number; startSeconds: number }>;
  members: Array<{ member: string; reduceSeconds: number; applySeconds: number }>;
  overheadSeconds: number;
}

/** The step's timings from what the coordinator measured and what jobs and reports carried (see StepTimings). */
export function stepTimings(
  m: { enqueuedAt: number; wallSeconds: number },
  jobs: ReadonlyArray<{ firstStream: number; result: WindowResult }>,
  reports: ReadonlyArray<Pick<Report, 'member' | 'reduceSeconds' | 'applySeconds'>>,
  members: readonly string[],
): StepTimings {
  const startSeconds = (r: WindowResult): number => (r.startedAt === undefined ? Number.NaN : Math.max(0, r.startedAt - m.enqueuedAt) / 1000);
  const perJob = jobs.map(({ firstStream, result }) => ({ firstStream, worker: result.worker, computeSeconds: result.computeSeconds, startSeconds: startSeconds(result) }));
  const byMember = new Map(reports.map((r) => [r.member, r]));
  const perMember = members.map((member) => ({ member, reduceSeconds: byMember.get(member)?.reduceSeconds ?? Number.NaN, applySeconds: byMember.get(member)?.applySeconds ?? Number.NaN }));
  const computeOf = new Map<string, number>();
  for (const j of perJob) computeOf.set(j.worker, (computeOf.get(j.worker) ?? 0) + j.computeSeconds);
  const maxCompute = Math.max(0, ...computeOf.values());
  const maxReduce = Math.max(0, ...perMember.map((p) => p.reduceSeconds));
  const starts = perJob.map((j) => j.startSeconds);
  return {
    wallSeconds: m.wallSeconds,
    queueWaitSeconds: starts.some((x) => Number.isNaN(x)) ? Number.NaN : Math.min(...starts),
    jobs: perJob,
    members: perMember,
    overheadSeconds: m.wallSeconds - maxCompute - maxReduce,
  };
}

export interface StepDriverDeps {
  windows: Pick<WindowQueue, 'runStep'>;
  bus: Pick<ControlBus, 'publish'>;
  experiments: Pick<ExperimentStore, 'commit'>;
  states: Pick<HiddenStateStore, 'deleteBefore'>;
  watcher: MembershipWatcher;
  reports: ReportCollector;
}

export interface StepDriverOptions {
  /** Deadline of a step's window jobs. @defaultValue 10 min — a large window on a CPU worker; a dead worker is caught sooner by its heartbeat */
  jobsTimeoutMs?: number;
  /** Deadline of the reports of one reduction. @defaultValue 2 min — above the collective's own 30 s deadline, so a member's error arrives first */
  reportTimeoutMs?: number;
  /** Interval of resends while waiting for reports. @defaultValue 2 s */
  resendMs?: number;
}

/** A step's jobs enqueued while the previous step reduced (StepDriver.runStep's enqueueNext). */
interface AheadStep {
  generation: number;
  step: number;
  results: Promise<WindowResult[]>;
  controller: AbortController;
  enqueuedAt: number;
  t0: number;
}

function jobsOf(ctx: StepContext, microBatches: ReadonlyArray<readonly [number, number]>): WindowJob[] {
  return microBatches.map(([firstStream, streams]) => ({ experiment: ctx.experiment, generation: ctx.generation, step: ctx.step, firstStream, streams }));
}

export class StepDriver {
  private ahead: AheadStep | undefined;
  /** When the last commit was published: performance.now() and Date.now(). */
  private lastCommit: { t: number; at: number } | undefined;

  constructor(
    private readonly deps: StepDriverDeps,
    private readonly options: StepDriverOptions = {},
  ) {}

  async runStep(ctx: StepContext, microBatches: ReadonlyArray<readonly [number, number]>, opts: { enqueueNext?: boolean } = {}): Promise<StepOutcome> {
    const { experiment, generation, step } = ctx;
    const jobs = jobsOf(ctx, microBatches);
    // A step whose jobs were enqueued ahead (during the previous step's reduce) starts
    // when the previous step committed: its jobs could not run before that.
    const ahead = this.ahead?.generation === generation && this.ahead.step === step ? this.ahead : undefined;
    if (this.ahead !== ahead) this.withdrawAhead();
    this.ahead = undefined;
    const enqueuedAt = ahead ? Math.max(ahead.enqueuedAt, this.lastCommit?.at ?? 0) : Date.now();
    const t0 = ahead ? Math.max(ahead.t0, this.lastCommit?.t ?? 0) : performance.now();
    if (!ahead) traceEvent('enqueue', { g: generation, s: step, ahead: false });
    const controller = ahead?.controller ?? new AbortController();
    let results: WindowResult[];
    try {
      results = await this.guarded(ctx, `the window jobs of step ${step}`, ahead?.results ?? this.deps.windows.runStep(jobs, { timeoutMs: this.jobsTimeoutMs, signal: controller.signal }));
    } catch (e) {
      // A lost member or a failed job ends the step: its jobs not yet started are withdrawn (a new generation redoes the step).
      controller.abort();
      throw e;
    }
    let count = 0;
    let lossSum = 0;
    for (const r of results) {
      count += r.count;
      lossSum += r.lossSum;
    }
    const t1 = performance.now();
    traceEvent('jobs.done', { g: generation, s: step });
    const accepted = results.map((r, i) => ({ firstStream: jobs[i].firstStream, worker: r.worker }));
    let reports: Report[];
    try {
      const reducing = this.reduce(ctx, { type: 'reduce', experiment, generation, step, count, lossSum, jobs: accepted });
      // Step s + 1's jobs go to the queue now: workers take them while step s reduces
      // and wait for its commit (parameters change only at commit; a job computes with
      // version s + 1 only) — the queue's hand-out is off the step's critical path.
      if (opts.enqueueNext) this.ahead = this.enqueueAhead({ ...ctx, step: step + 1 }, microBatches);
      reports = await reducing;
    } catch (e) {
      this.withdrawAhead();
      throw e;
    }
    const t2 = performance.now();
    traceEvent('reports.in', { g: generation, s: step });
    try {
      await this.deps.experiments.commit(experiment, generation, step);
    } catch (e) {
      this.withdrawAhead();
      throw e;
    }
    traceEvent('cas', { g: generation, s: step });
    await this.deps.bus.publish({ type: 'commit', experiment, generation, step });
    const committedAt = performance.now();
    traceEvent('commit.pub', { g: generation, s: step });
    this.lastCommit = { t: committedAt, at: Date.now() };
    const wallSeconds = (committedAt - t0) / 1000;
    await this.deps.states.deleteBefore(experiment, step + 1);
    const timings = stepTimings({ enqueuedAt, wallSeconds }, results.map((result, i) => ({ firstStream: jobs[i].firstStream, result })), reports, ctx.members);
    return {
      step,
      loss: count === 0 ? 0 : lossSum / count,
      tokens: count,
      gradNorm: reports[0].gradNorm,
      skipped: reports[0].skipped,
      workers: results.map((r) => r.worker),
      seconds: { jobs: (t1 - t0) / 1000, reduce: (t2 - t1) / 1000, commit: (performance.now() - t2) / 1000 },
      timings,
    };
  }

  /** Withdraws jobs enqueued ahead that no runStep took (the run ends or fails): not started ones are removed. */
  close(): void {
    this.withdrawAhead();
  }

  private get jobsTimeoutMs(): number {
    return this.options.jobsTimeoutMs ?? 10 * 60_000;
  }

  private enqueueAhead(ctx: StepContext, microBatches: ReadonlyArray<readonly [number, number]>): AheadStep {
    const controller = new AbortController();
    traceEvent('enqueue', { g: ctx.generation, s: ctx.step, ahead: true });
    const results = this.deps.windows.runStep(jobsOf(ctx, microBatches), { timeoutMs: this.jobsTimeoutMs, signal: controller.signal });
    results.catch(() => undefined); // seen by the runStep that takes it, or withdrawn
    return { generation: ctx.generation, step: ctx.step, results, controller, enqueuedAt: Date.now(), t0: performance.now() };
  }

  private withdrawAhead(): void {
    this.ahead?.controller.abort();
    this.ahead = undefined;
  }

  /** The closing barrier at `ctx.step` (= steps): every member applied every commit; rank 0 wrote the final checkpoint. */
  async barrier(ctx: StepContext): Promise<void> {
    await this.reduce(ctx, { type: 'reduce', experiment: ctx.experiment, generation: ctx.generation, step: ctx.step, count: 0, lossSum: 0, jobs: [], barrier: true });
  }

  /** Publishes `message` (and resends it) until every member reported ok; aborts the step otherwise. */
  private async reduce(ctx: StepContext, message: ControlMessage): Promise<Report[]> {
    const { experiment, generation, step, members } = ctx;
    const awaited = this.deps.reports.expect(generation, step, members);
    // The first send is the message alone (a member that missed the generation's
    // announcement catches up from the experiment record when it sees a newer
    // generation named); resends repeat the announcement too.
    const publish = async (again: boolean): Promise<void> => {
      await this.deps.bus.publish(message);
      if (again) await this.deps.bus.publish(announcement(experiment, generation, step));
    };
    const timeoutMs = this.options.reportTimeoutMs ?? 2 * 60_000;
    let resend: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new StepFailedError(`step ${step} of ${experiment}: no report from ${awaited.missing().join(', ')} within ${timeoutMs} ms`, awaited.missing())), timeoutMs);
    });
    let reports: Report[];
    try {
      await publish(false);
      resend = setInterval(() => void publish(true).catch(() => undefined), this.options.resendMs ?? 2000);
      reports = await this.guarded(ctx, `the reduction of step ${step}`, Promise.race([awaited.reports, timedOut]));
    } catch (e) {
      await this.abort(ctx, e instanceof Error ? e.message : String(e));
      throw e;
    } finally {
      clearInterval(resend);
      clearTimeout(deadline);
      awaited.cancel();
    }
    // A member that reduced another set of jobs than this step's accepted ones (it derived
    // the list from the queue's events itself) would make the sum wrong: fail the step.
    const expected = message.type === 'reduce' && message.barrier !== true ? acceptedDigest(message.jobs) : undefined;
    reports = reports.map((r) => (r.ok && expected !== undefined && r.jobs !== undefined && r.jobs !== expected ? { ...r, ok: false, error: `worker ${r.member} reduced jobs ${r.jobs}, the step accepted ${expected}` } : r));
    const failed = reports.filter((r) => !r.ok);
    if (failed.length > 0) {
      const reason = failed.map((r) => r.error ?? `worker ${r.member} failed`).join('; ');
      await this.abort(ctx, reason);
      const suspects = [...new Set(failed.flatMap((r) => (r.peer !== undefined && members.includes(r.peer) ? [r.peer] : [])))];
      throw new StepFailedError(`step ${step} of ${experiment} failed: ${reason}`, suspects);
    }
    return reports;
  }

  private async abort(ctx: StepContext, reason: string): Promise<void> {
    await this.deps.bus.publish({ type: 'abort', experiment: ctx.experiment, generation: ctx.generation, step: ctx.step, reason }).catch(() => undefined);
  }

  /** `work`, unless a member stops heartbeating first; an error of `work` names lost members when there are some. */
  private async guarded<T>(ctx: StepContext, during: string, work: Promise<T>): Promise<T> {
    try {
      return await this.deps.watcher.guard(ctx.members, during, work);
    } catch (e) {
      if (e instanceof MemberLostError) throw e;
      const lost = await this.deps.watcher.lost(ctx.members).catch(() => []);
      if (lost.length > 0) throw new MemberLostError(lost, `${during} (${e instanceof Error ? e.message : String(e)})`);
      throw e;
    }
  }
}
