/**
 * The coordinator's half of a step against the in-memory cluster fakes, with the
 * members played by the test: what it publishes, what it accepts, when it commits,
 * and how it fails.
 */
import type { ControlMessage } from '@unroll/cluster';
import { acceptedDigest, FencingError } from '@unroll/cluster';
import { InMemoryControlBus, InMemoryExperimentStore, InMemoryHiddenStateStore, InMemoryMembershipStore, InMemoryWindowQueue } from '@unroll/cluster/testing';
import { MemberLostError, MembershipWatcher } from './membership-watcher';
import { ReportCollector } from './report-collector';
import { StepDriver, StepFailedError, stepTimings } from './step-driver';

const EXP = 'exp-1';
const MEMBERS = ['w0', 'w1', 'w2'];

describe('StepDriver', () => {
  let experiments: InMemoryExperimentStore;
  let membership: InMemoryMembershipStore;
  let states: InMemoryHiddenStateStore;
  let bus: InMemoryControlBus;
  let windows: InMemoryWindowQueue;
  let published: ControlMessage[];
  let collector: ReportCollector;
  let driver: StepDriver;
  let generation: number;

  beforeEach(async () => {
    experiments = new InMemoryExperimentStore();
    membership = new InMemoryMembershipStore();
    states = new InMemoryHiddenStateStore();
    bus = new InMemoryControlBus();
    windows = new InMemoryWindowQueue({ attempts: 1 });
    published = [];
    for (const id of MEMBERS) await membership.register({ id, ringAddress: `in-memory://${id}`, backend: 'cpu', kernel: 'tfjs', device: 'cpu', startedAt: 0 }, 60_000);
    await experiments.create({ id: EXP, specYaml: '', status: 'running', step: 0, generation: 0, members: [] });
    generation = await experiments.newGeneration(EXP, MEMBERS);
    collector = new ReportCollector(EXP);
    collector.generation = generation;
    await bus.subscribe(EXP, (m) => {
      published.push(m);
      collector.onMessage(m);
    });
    await bus.subscribe('_cluster', (m) => published.push(m));
    await windows.consume('w0', async (job) => ({ lossSum: 2 * job.streams, count: 4 * job.streams, worker: 'w0', computeSeconds: 0.003 * job.streams, startedAt: Date.now() }));
    driver = new StepDriver({ windows, bus, experiments, states, reports: collector, watcher: new MembershipWatcher(membership, { pollMs: 20 }) }, { resendMs: 30, reportTimeoutMs: 2000, jobsTimeoutMs: 2000 });
  });

  afterEach(async () => {
    await windows.close();
    await bus.close();
  });

  const ctx = (step = 0) => ({ experiment: EXP, generation, step, members: MEMBERS });
  const report = (member: string, over: Partial<Extract<ControlMessage, { type: 'report' }>> = {}): ControlMessage => ({ type: 'report', experiment: EXP, generation, step: 0, member, ok: true, gradNorm: 0.5, skipped: false, reduceSeconds: 0.01, applySeconds: 0.002, ...over });
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  };
  const reduces = () => published.filter((m) => m.type === 'reduce');

  it('enqueues every micro-batch, publishes reduce with the summed count, commits only when every member reported', async () => {
    const done = driver.runStep(ctx(), [
      [0, 2],
      [2, 2],
    ]);
    await until(() => reduces().length > 0);
    // Per job, the worker whose result the queue accepted: members reduce exactly those.
    expect(reduces()[0]).toEqual({ type: 'reduce', experiment: EXP, generation, step: 0, count: 16, lossSum: 8, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }] });
    await bus.publish(report('w0'));
    await bus.publish(report('w1'));
    await new Promise((r) => setTimeout(r, 80));
    expect((await experiments.get(EXP))?.step).toBe(0); // w2 has not reported
    expect(reduces().length).toBeGreaterThan(1); // resent while waiting
    expect(published.some((m) => m.type === 'generation' && m.experiment === '_cluster' && m.members[0] === EXP)).toBe(true);
    await bus.publish(report('w2', { reduceSeconds: 0.03 }));
    const outcome = await done;
    expect(outcome).toMatchObject({ step: 0, loss: 0.5, tokens: 16, gradNorm: 0.5, skipped: false, workers: ['w0', 'w0'] });
    // Timings: per job and per member as carried, overhead = wall − busiest member's compute − slowest reduce.
    const t = outcome.timings;
    expect(t.jobs).toEqual([
      { firstStream: 0, worker: 'w0', computeSeconds: 0.006, startSeconds: expect.any(Number) },
      { firstStream: 2, worker: 'w0', computeSeconds: 0.006, startSeconds: expect.any(Number) },
    ]);
    expect(t.members).toEqual([
      { member: 'w0', reduceSeconds: 0.01, applySeconds: 0.002 },
      { member: 'w1', reduceSeconds: 0.01, applySeconds: 0.002 },
      { member: 'w2', reduceSeconds: 0.03, applySeconds: 0.002 },
    ]);
    // The step waited ≥ 80 ms for w2's report above.
    expect(t.wallSeconds).toBeGreaterThanOrEqual(0.08);
    expect(t.wallSeconds).toBeLessThanOrEqual(outcome.seconds.jobs + outcome.seconds.reduce + outcome.seconds.commit);
    expect(t.overheadSeconds).toBeCloseTo(t.wallSeconds - 0.012 - 0.03, 9);
    expect(t.queueWaitSeconds).toBeGreaterThanOrEqual(0);
    expect(t.queueWaitSeconds).toBeLessThan(t.wallSeconds);
    expect((await experiments.get(EXP))?.step).toBe(1);
    await until(() => published.some((m) => m.type === 'commit'));
    expect(published.filter((m) => m.type === 'commit')).toEqual([{ type: 'commit', experiment: EXP, generation, step: 0 }]);
  });

  it("fails the step, committing nothing, when a member reduced other jobs than the step accepted (its report's digest)", async () => {
    const accepted = [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }];
    const done = driver.runStep(ctx(), [
      [0, 2],
      [2, 2],
    ]);
    done.catch(() => undefined);
    await until(() => reduces().length > 0);
    await bus.publish(report('w0', { jobs: acceptedDigest(accepted) }));
    await bus.publish(report('w1', { jobs: acceptedDigest([accepted[0], { firstStream: 2, worker: 'w1' }]) }));
    await bus.publish(report('w2'));
    await expect(done).rejects.toThrow(/worker w1 reduced jobs 2-[0-9a-f]{8}, the step accepted 2-[0-9a-f]{8}/);
    expect((await experiments.get(EXP))?.step).toBe(0);
    expect(published.some((m) => m.type === 'abort')).toBe(true);
  });

  it('step timings: a member with no job counts zero compute; a missing startedAt makes the queue wait NaN, not a guess', () => {
    const result = (worker: string, computeSeconds: number, startedAt?: number) => ({ lossSum: 0, count: 1, worker, computeSeconds, ...(startedAt === undefined ? {} : { startedAt }) });
    const reports = [
      { member: 'a', reduceSeconds: 0.2, applySeconds: 0.01 },
      { member: 'b', reduceSeconds: 0.5, applySeconds: 0.01 },
      { member: 'c', reduceSeconds: 0.1, applySeconds: 0.01 },
    ];
    const jobs = [
      { firstStream: 0, result: result('a', 1, 1000) },
      { firstStream: 2, result: result('b', 0.5, 1300) },
      { firstStream: 4, result: result('a', 1, 1200) },
    ];
    const t = stepTimings({ enqueuedAt: 900, wallSeconds: 4 }, jobs, reports, ['a', 'b', 'c']);
    // a computed 2 s (the busiest), the slowest reduce is 0.5 s.
    expect(t.overheadSeconds).toBeCloseTo(4 - 2 - 0.5, 12);
    expect(t.queueWaitSeconds).toBeCloseTo(0.1, 12);
    expect(t.jobs.map((j) => j.startSeconds)).toEqual([0.1, 0.4, 0.3].map((x) => expect.closeTo(x, 12)));
    const unknown = stepTimings({ enqueuedAt: 900, wallSeconds: 4 }, [...jobs, { firstStream: 6, result: result('c', 0.1) }], reports, ['a', 'b', 'c']);
    expect(unknown.queueWaitSeconds).toBeNaN();
    expect(unknown.jobs[3].startSeconds).toBeNaN();
  });

  it('refuses reports of an older generation: they do not count towards the commit', async () => {
    const older = generation;
    generation = await experiments.newGeneration(EXP, MEMBERS);
    collector.generation = generation;
    const done = driver.runStep(ctx(), [[0, 2]]);
    await until(() => reduces().length > 0);
    for (const id of MEMBERS) await bus.publish(report(id, { generation: older }));
    await new Promise((r) => setTimeout(r, 50));
    expect(collector.refused).toBe(3);
    expect((await experiments.get(EXP))?.step).toBe(0);
    for (const id of MEMBERS) await bus.publish(report(id));
    await expect(done).resolves.toMatchObject({ step: 0 });
  });

  it('a failure that names no ring peer has no suspect', async () => {
    const done = driver.runStep(ctx(), [[0, 2]]);
    await until(() => reduces().length > 0);
    await bus.publish(report('w0', { ok: false, gradNorm: Number.NaN, error: 'worker w0: MessageRejectedError: INVALID_ARGUMENT: chunk of another step' }));
    const failure = await done.catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(StepFailedError);
    expect((failure as StepFailedError).suspects).toEqual([]);
  });

  it('a member reporting a failure aborts the step with its error, and nothing is committed', async () => {
    const done = driver.runStep(ctx(), [[0, 2]]);
    await until(() => reduces().length > 0);
    await bus.publish(report('w0'));
    await bus.publish(report('w1', { ok: false, gradNorm: Number.NaN, error: 'worker w1: ring peer w2 PeerDeadlineError: rank 2 (127.0.0.1:1) did not answer', peer: 'w2' }));
    const failure = await done.catch((e: unknown) => e);
    expect(failure).toEqual(new StepFailedError(`step 0 of ${EXP} failed: worker w1: ring peer w2 PeerDeadlineError: rank 2 (127.0.0.1:1) did not answer`));
    // The peer it named is the suspect the runner waits for (experiment-runner.ts survivors).
    expect((failure as StepFailedError).suspects).toEqual(['w2']);
    await until(() => published.some((m) => m.type === 'abort'));
    expect(published.find((m) => m.type === 'abort')).toMatchObject({ generation, step: 0 });
    expect((await experiments.get(EXP))?.step).toBe(0);
  });

  it('a member that stops heartbeating ends the wait with an error naming it — no hang', async () => {
    const done = driver.runStep(ctx(), [[0, 2]]);
    await until(() => reduces().length > 0);
    await bus.publish(report('w0'));
    await membership.deregister('w2');
    await expect(done).rejects.toThrow(MemberLostError);
    await expect(done).rejects.toThrow(/worker w2 left the cluster \(registration expired or withdrawn\) during the reduction of step 0/);
    expect((await experiments.get(EXP))?.step).toBe(0);
  });

  it('a step whose window jobs do not finish names the member that died', async () => {
    await windows.close();
    windows = new InMemoryWindowQueue({ attempts: 1 });
    let release!: () => void;
    const never = new Promise<never>((_, reject) => (release = () => reject(new Error('released'))));
    never.catch(() => undefined);
    await windows.consume('w1', () => never); // w1 takes the job and dies with it
    driver = new StepDriver({ windows, bus, experiments, states, reports: collector, watcher: new MembershipWatcher(membership, { pollMs: 20 }) }, { jobsTimeoutMs: 5000 });
    const done = driver.runStep(ctx(), [[0, 2]]);
    await new Promise((r) => setTimeout(r, 30));
    await membership.deregister('w1');
    await expect(done).rejects.toThrow(/worker w1 left the cluster \(registration expired or withdrawn\) during the window jobs of step 0/);
    release();
  });

  it('the commit is fenced: a generation opened meanwhile makes it fail', async () => {
    const done = driver.runStep(ctx(), [[0, 2]]);
    await until(() => reduces().length > 0);
    await experiments.newGeneration(EXP, MEMBERS); // a membership change the driver has not seen
    for (const id of MEMBERS) await bus.publish(report(id));
    await expect(done).rejects.toThrow(FencingError);
    expect(published.some((m) => m.type === 'commit')).toBe(false);
  });
  it('enqueueNext: step s + 1 is enqueued while step s reduces, taken by that runStep; withdrawn when step s fails', async () => {
    const queue = new InMemoryWindowQueue({ attempts: 1 });
    const seen: Array<[number, number]> = [];
    let release!: () => void;
    const committed = new Promise<void>((r) => (release = r));
    let unstick!: () => void;
    const stuck = new Promise<void>((r) => (unstick = r));
    // A worker that, like window-executor.ts, computes a job of step s only at version s.
    await queue.consume('w0', async (job) => {
      seen.push([job.step, job.firstStream]);
      if (job.step === 1) await committed;
      if (job.step === 2) await stuck; // still running when step 1 fails
      return { lossSum: 1, count: 2, worker: 'w0', computeSeconds: 0.001, startedAt: Date.now() };
    });
    const d = new StepDriver({ windows: queue, bus, experiments, states, reports: collector, watcher: new MembershipWatcher(membership, { pollMs: 20 }) }, { resendMs: 30, reportTimeoutMs: 2000, jobsTimeoutMs: 2000 });
    const batches: Array<[number, number]> = [[0, 2], [2, 2]];
    const s0 = d.runStep(ctx(0), batches, { enqueueNext: true });
    await until(() => reduces().length > 0);
    await until(() => queue.pendingJobIds().length === 2);
    expect(queue.pendingJobIds().every((id) => id.includes(':1:'))).toBe(true); // step 1, before step 0 commits
    for (const id of MEMBERS) await bus.publish(report(id));
    await s0;
    expect((await experiments.get(EXP))?.step).toBe(1);
    release();
    const s1 = d.runStep(ctx(1), batches, { enqueueNext: true });
    await until(() => reduces().some((m) => m.step === 1));
    expect(seen.filter(([step]) => step === 1)).toHaveLength(2); // the jobs enqueued ahead, not a second copy
    await until(() => seen.some(([step]) => step === 2));
    expect(queue.pendingJobIds().filter((id) => id.includes(':2:'))).toHaveLength(2);
    // Step 1 fails: step 2's jobs, enqueued ahead, are withdrawn — all but the one a worker is running.
    for (const id of MEMBERS) await bus.publish(report(id, { step: 1, ok: id !== 'w1', error: id === 'w1' ? 'boom' : undefined }));
    await expect(s1).rejects.toThrow(StepFailedError);
    expect(queue.pendingJobIds()).toHaveLength(1);
    expect((await experiments.get(EXP))?.step).toBe(1);
    unstick();
    await queue.close();
  });
});

describe('ReportCollector: reports that arrive before their step is awaited', () => {
  const report = (member: string, step: number, generation = 1, jobs?: string): Extract<ControlMessage, { type: 'report' }> => ({
    type: 'report',
    experiment: EXP,
    generation,
    step,
    member,
    ok: true,
    gradNorm: 1,
    skipped: false,
    reduceSeconds: 0,
    applySeconds: 0,
    ...(jobs === undefined ? {} : { jobs }),
  });

  it('keeps an early report (a member that started the reduce from the queue events) and counts it when the step is awaited', async () => {
    const c = new ReportCollector(EXP);
    c.onMessage(report('w0', 3));
    c.onMessage(report('w9', 2)); // an older step's: dropped when step 3 is awaited
    const awaited = c.expect(1, 3, ['w0', 'w1']);
    expect(awaited.missing()).toEqual(['w1']);
    c.onMessage(report('w1', 3));
    expect((await awaited.reports).map((r) => r.member).sort()).toEqual(['w0', 'w1']);
    // A resent answer of the finished step is not kept for later.
    c.onMessage(report('w0', 3));
    const next = c.expect(1, 4, ['w0']);
    expect(next.missing()).toEqual(['w0']);
    next.cancel();
  });
});
