/**
 * The worker's half of a step, driven message by message as the coordinator would,
 * over the in-memory cluster fakes and the in-memory collective.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { acceptedDigest, type AcceptedJob, type ControlMessage, type WindowJob } from '@unroll/cluster';
import { InMemoryControlBus, InMemoryExperimentStore, InMemoryHiddenStateStore } from '@unroll/cluster/testing';
import { InMemoryCollectiveHub } from '@unroll/collective/testing';
import { selectBackend } from '@unroll/models';
import { CheckpointWriter } from './checkpoint-writer';
import { ExperimentSession } from './experiment-session';
import { MemberPhase, RingFormationError, StepParticipant, type ReportMessage } from './step-participant';
import { executeWindow, WindowJobRefusedError } from './window-executor';

const SPEC = `apiVersion: unroll/v1
kind: Experiment
metadata: {name: unit}
spec:
  seed: 2
  backend: cpu
  data: {dataset: text, path: corpus.txt, validationFraction: 0.1}
  model: {cell: lstm, embedding: 4, hidden: 6, layers: 1}
  tbptt: {streams: 4, window: 5, stride: 5, microBatch: 2}
  loss: cross-entropy
  optimizer: {name: adam, lr: 0.01}
  steps: 4
`;

const EXP = 'exp-1';

function copy(m: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  return new Map([...m].map(([k, v]) => [k, Float32Array.from(v)]));
}

function same(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>): boolean {
  return [...a].every(([k, v]) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from((b.get(k) as Float32Array).buffer, (b.get(k) as Float32Array).byteOffset, v.byteLength)));
}

describe('StepParticipant and the window executor', () => {
  let dir: string;
  let dataRoot: string;
  let experiments: InMemoryExperimentStore;
  let states: InMemoryHiddenStateStore;
  let bus: InMemoryControlBus;
  let reports: ReportMessage[];

  beforeAll(async () => {
    await selectBackend('cpu');
  });

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'unroll-participant-'));
    dataRoot = path.join(dir, 'data');
    mkdirSync(dataRoot);
    writeFileSync(path.join(dataRoot, 'corpus.txt'), 'abcdefghij klmnop qrstuv wxyz. '.repeat(20));
    experiments = new InMemoryExperimentStore();
    states = new InMemoryHiddenStateStore();
    bus = new InMemoryControlBus();
    reports = [];
    await bus.subscribe(EXP, (m) => {
      if (m.type === 'report') reports.push(m);
    });
    await experiments.create({ id: EXP, specYaml: SPEC, status: 'running', step: 0, generation: 0, members: [] });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** `n` members of generation 1: a session and a participant each, on one in-memory collective. */
  async function members(n: number, timeoutMs = 5000): Promise<Array<{ id: string; session: ExperimentSession; participant: StepParticipant }>> {
    const ids = Array.from({ length: n }, (_, i) => `w${i}`);
    await experiments.newGeneration(EXP, ids);
    const hub = new InMemoryCollectiveHub(n, { timeoutMs });
    const out = [];
    for (const [rank, id] of ids.entries()) {
      const session = ExperimentSession.load(EXP, SPEC, dataRoot);
      const participant = new StepParticipant(session, {
        workerId: id,
        bus,
        experiments,
        collectives: { forMembers: async () => hub.members[rank] },
        checkpoints: new CheckpointWriter(path.join(dir, 'ckpt'), states),
        pollMs: 20,
        versionTimeoutMs: 2000,
      });
      await participant.syncWithRecord();
      out.push({ id, session, participant });
    }
    return out;
  }

  function job(step: number, firstStream: number, generation = 1): WindowJob {
    return { experiment: EXP, generation, step, firstStream, streams: 2 };
  }

  function run(m: { id: string; session: ExperimentSession; participant: StepParticipant }, j: WindowJob) {
    return executeWindow({ workerId: m.id, experiments, states, session: async () => m.session, awaitVersion: (_s, step, generation) => m.participant.awaitVersion(step, generation) }, j);
  }

  const msg = (m: ControlMessage): ControlMessage => m;
  const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

  it('parameters change only at commit: between report and commit they are those of version s', async () => {
    const [m] = await members(1);
    const before = copy(m.session.params);
    const r0 = await run(m, job(0, 0));
    const r1 = await run(m, job(0, 2));
    await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: r0.count + r1.count, lossSum: r0.lossSum + r1.lossSum, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }] }));
    await settle();
    expect(reports).toEqual([expect.objectContaining({ member: 'w0', generation: 1, step: 0, ok: true, skipped: false, reduceSeconds: expect.any(Number), applySeconds: expect.any(Number) })]);
    expect(reports[0].reduceSeconds).toBeGreaterThanOrEqual(0);
    expect(reports[0].applySeconds).toBeGreaterThan(0);
    expect(m.participant.phase).toBe(MemberPhase.Staged);
    // Reported, not committed: the committed parameters and the network are untouched.
    expect(same(m.session.params, before)).toBe(true);
    expect(same(m.session.net.snapshot(), before)).toBe(true);
    expect(m.session.version).toBe(0);
    expect(same(m.session.staged?.params as Map<string, Float32Array>, before)).toBe(false);

    await m.participant.receive(msg({ type: 'commit', experiment: EXP, generation: 1, step: 0 }));
    expect(m.session.version).toBe(1);
    expect(same(m.session.params, before)).toBe(false);
    // The network's variables follow the committed parameters lazily, before the next inline window (ExperimentSession.loadNet).
    m.session.loadNet();
    expect(same(m.session.net.snapshot(), m.session.params)).toBe(true);
    expect(m.participant.phase).toBe(MemberPhase.Ready);
  });

  /** A job run as the worker process runs it: it may start on this member's staged update before the commit (speculation). */
  function runSpeculative(m: { id: string; session: ExperimentSession; participant: StepParticipant }, j: WindowJob) {
    return executeWindow(
      {
        workerId: m.id,
        experiments,
        states,
        session: async () => m.session,
        awaitVersion: (_s, step, generation) => m.participant.awaitVersion(step, generation),
        awaitParams: (_s, step, generation) => m.participant.awaitParams(step, generation),
      },
      j,
    );
  }

  /** Runs both jobs of step 0 on `m` and reduces them; `only` limits the accepted jobs (another update). */
  async function stageStep0(m: { id: string; session: ExperimentSession; participant: StepParticipant }, only?: number) {
    const r0 = await run(m, job(0, 0));
    const r1 = await run(m, job(0, 2));
    const accepted = [{ firstStream: 0, worker: 'w0', r: r0 }, { firstStream: 2, worker: 'w0', r: r1 }].filter((a) => only === undefined || a.firstStream === only);
    const count = accepted.reduce((n, a) => n + a.r.count, 0);
    await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count, lossSum: 0, jobs: accepted.map(({ firstStream, worker }) => ({ firstStream, worker })) }));
    return m.session.staged?.params as Map<string, Float32Array>;
  }

  /** The contribution, loss and stored state a finished job of step 1 left (taken: the job may run again). */
  async function outcomeOfStep1(m: { session: ExperimentSession }, r: { lossSum: number; count: number }) {
    const { grads } = m.session.takeContribution(1, 1, [{ firstStream: 0, worker: 'w0' }], 'w0');
    const state = (await states.get(EXP, 0, 2, 2)) as Float32Array[];
    return { grads: copy(grads), lossSum: r.lossSum, count: r.count, state: state.map((a) => Float32Array.from(a)) };
  }

  it('speculation: a job of step s + 1 computes on the staged update before the commit, holds its result, state and gradient until the commit, and gives the bytes of a run after it', async () => {
    const [m] = await members(1);
    const staged = await stageStep0(m);
    let done = false;
    const speculative = runSpeculative(m, job(1, 0)).finally(() => (done = true));
    await settle();
    // It computed (the network holds the staged parameters) but nothing left the job: no result, no state of window 2, no gradient held.
    expect(same(m.session.net.snapshot(), staged)).toBe(true);
    expect(m.session.version).toBe(0);
    expect(done).toBe(false);
    expect(await states.get(EXP, 0, 2, 2)).toBeUndefined();
    expect(m.session.heldJobs(1, 1)).toEqual([]);

    await m.participant.receive(msg({ type: 'commit', experiment: EXP, generation: 1, step: 0 }));
    const first = await outcomeOfStep1(m, await speculative);
    expect(m.session.params).toBe(staged);
    // The same job after the commit, not speculating: the same bytes.
    const again = await outcomeOfStep1(m, await run(m, job(1, 0)));
    expect(again.lossSum).toBe(first.lossSum);
    expect(again.count).toBe(first.count);
    expect(same(again.grads, first.grads)).toBe(true);
    expect(again.state.every((a, i) => Buffer.from(a.buffer).equals(Buffer.from(first.state[i].buffer)))).toBe(true);
  });

  it('speculation: when the staged update is aborted and another one committed, the job is computed again on the committed parameters', async () => {
    const [m] = await members(1);
    const staged = copy(await stageStep0(m));
    const speculative = runSpeculative(m, job(1, 0));
    await settle();
    expect(same(m.session.net.snapshot(), staged)).toBe(true); // computed on the first update
    await m.participant.receive(msg({ type: 'abort', experiment: EXP, generation: 1, step: 0, reason: 'test' }));
    // Step 0 redone with one job accepted: another update.
    const other = copy(await stageStep0(m, 0));
    expect(same(other, staged)).toBe(false);
    await m.participant.receive(msg({ type: 'commit', experiment: EXP, generation: 1, step: 0 }));
    const result = await outcomeOfStep1(m, await speculative);
    expect(same(m.session.net.snapshot(), other)).toBe(true);
    const reference = await outcomeOfStep1(m, await run(m, job(1, 0)));
    expect(result.lossSum).toBe(reference.lossSum);
    expect(same(result.grads, reference.grads)).toBe(true);
  });

  it('an abort drops the staged update and restores the optimizer; the step can be reduced again', async () => {
    const [m] = await members(1);
    const before = copy(m.session.params);
    const reduceStep0 = async () => {
      const r0 = await run(m, job(0, 0));
      const r1 = await run(m, job(0, 2));
      await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: r0.count + r1.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }] }));
      return copy(m.session.staged?.params as Map<string, Float32Array>);
    };
    const first = await reduceStep0();
    await m.participant.receive(msg({ type: 'abort', experiment: EXP, generation: 1, step: 0, reason: 'test' }));
    expect(m.session.staged).toBeUndefined();
    expect(m.session.optimizer.state().meta.step).toBe(0);
    expect(same(m.session.params, before)).toBe(true);
    // Redone from scratch (the window jobs add again after the abort), the same bytes come out.
    expect(same(await reduceStep0(), first)).toBe(true);
  });

  it("starts the reduce from the queue's completion events: the same staged bytes, one report each, the coordinator's first 'reduce' not answered again", async () => {
    const reduceBy = async (via: 'coordinator' | 'events') => {
      const pair = await members(2);
      const [a, b] = pair;
      const g = a.participant.generation; // each members() call opens a new generation
      const r0 = await run(a, job(0, 0, g));
      const r1 = await run(b, job(0, 2, g));
      const reduce = msg({ type: 'reduce', experiment: EXP, generation: g, step: 0, count: r0.count + r1.count, lossSum: r0.lossSum + r1.lossSum, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w1' }] });
      reports = [];
      if (via === 'events') {
        // In any order, on every member: the second completion completes the step.
        for (const m of pair) m.participant.noteCompleted({ experiment: EXP, generation: g, step: 0, firstStream: 2, result: r1 });
        expect(reports).toHaveLength(0);
        for (const m of pair) m.participant.noteCompleted({ experiment: EXP, generation: g, step: 0, firstStream: 0, result: r0 });
        await settle();
        expect(reports).toHaveLength(2);
        // The coordinator's 'reduce' comes after: the reports are out, not sent again; a resend is answered.
        await Promise.all(pair.map((m) => m.participant.receive(reduce)));
        await settle();
        expect(reports).toHaveLength(2);
        await Promise.all(pair.map((m) => m.participant.receive(reduce)));
        await settle();
        expect(reports).toHaveLength(4);
      } else {
        await Promise.all(pair.map((m) => m.participant.receive(reduce)));
        await settle();
        expect(reports).toHaveLength(2);
      }
      expect(new Set(reports.map((r) => r.jobs))).toEqual(new Set([acceptedDigest((reduce as { jobs: AcceptedJob[] }).jobs)]));
      return copy(a.session.staged?.params as Map<string, Float32Array>);
    };
    const viaCoordinator = await reduceBy('coordinator');
    expect(same(await reduceBy('events'), viaCoordinator)).toBe(true);
  });

  it('a commit, reduce or abort of an older generation is refused', async () => {
    const [m] = await members(1);
    const r0 = await run(m, job(0, 0));
    const r1 = await run(m, job(0, 2));
    await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: r0.count + r1.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }] }));
    // A new generation opens (a membership change); the old generation's commit arrives late.
    await experiments.newGeneration(EXP, ['w0']);
    await m.participant.receive(msg({ type: 'generation', experiment: EXP, generation: 2, step: 0, members: ['w0'] }));
    expect(m.session.staged).toBeUndefined(); // the older generation's staged work is dropped
    await m.participant.receive(msg({ type: 'commit', experiment: EXP, generation: 1, step: 0 }));
    await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: 10, lossSum: 0, jobs: [] }));
    await m.participant.receive(msg({ type: 'abort', experiment: EXP, generation: 1, step: 0, reason: 'late' }));
    expect(m.participant.refused).toBe(3);
    expect(m.session.version).toBe(0);
    await settle();
    expect(reports).toHaveLength(1); // only the generation-1 report sent before the change
    // A window job of the old generation is refused as well.
    await expect(run(m, job(0, 0, 1))).rejects.toThrow(WindowJobRefusedError);
  });

  it('a member that ran no job contributes zeros: both members stage what one member running every job stages', async () => {
    const [solo] = await members(1);
    const a = await run(solo, job(0, 0));
    const b = await run(solo, job(0, 2));
    const count = a.count + b.count;
    await solo.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }] }));
    const expected = copy(solo.session.staged?.params as Map<string, Float32Array>);

    const pair = await members(2); // generation 2, fresh sessions at version 0
    const busy = pair[0];
    await run(busy, { ...job(0, 0), generation: 2 });
    await run(busy, { ...job(0, 2), generation: 2 });
    expect(pair[1].session.heldJobs(2, 0)).toEqual([]);
    const accepted = [0, 2].map((firstStream) => ({ firstStream, worker: busy.id }));
    await Promise.all(pair.map((m) => m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 2, step: 0, count, lossSum: 0, jobs: accepted }))));
    for (const m of pair) expect(same(m.session.staged?.params as Map<string, Float32Array>, expected)).toBe(true);
  });

  it('exactly once: a job the queue ran on two members counts once — each member reduces only the jobs accepted from it', async () => {
    const [solo] = await members(1);
    const a = await run(solo, job(0, 0));
    const b = await run(solo, job(0, 2));
    const count = a.count + b.count;
    await solo.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }] }));
    const expected = copy(solo.session.staged?.params as Map<string, Float32Array>);

    const pair = await members(2); // generation 2, fresh sessions at version 0
    const [w0, w1] = pair;
    // Job 0 stalls on w0 (its lock expires) and the queue hands it to w1 as well: both compute it.
    await run(w0, job(0, 0, 2));
    await run(w1, job(0, 0, 2));
    await run(w0, job(0, 2, 2));
    expect(w0.session.heldJobs(2, 0)).toEqual([0, 2]);
    expect(w1.session.heldJobs(2, 0)).toEqual([0]);
    // The queue accepted w1's result of job 0 (w0's late completion was refused) and w0's of job 2.
    const accepted = [
      { firstStream: 0, worker: 'w1' },
      { firstStream: 2, worker: 'w0' },
    ];
    await Promise.all(pair.map((m) => m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 2, step: 0, count, lossSum: 0, jobs: accepted }))));
    await settle();
    expect(reports.filter((r) => r.generation === 2).map((r) => r.ok)).toEqual([true, true]);
    // Counted twice, job 0's gradient would make the update differ from one process's.
    for (const m of pair) expect(same(m.session.staged?.params as Map<string, Float32Array>, expected)).toBe(true);
    // Every gradient held for the step is released at the reduce, accepted or not.
    for (const m of pair) expect(m.session.heldJobs(2, 0)).toEqual([]);
  });

  it('a reduction failed on a dead or late ring peer reports it by worker id (the suspect the coordinator waits for), and names it in the error', async () => {
    const [w0] = await members(2, 300);
    const r = await run(w0, job(0, 0));
    // w1 never enters the all-reduce: w0's fails at the collective's deadline, naming rank 1.
    await w0.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: r.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }] }));
    await settle();
    expect(reports).toEqual([expect.objectContaining({ member: 'w0', ok: false, peer: 'w1', error: expect.stringMatching(/^worker w0: ring peer w1 PeerDeadlineError: /) })]);
  });

  it('a member that could not form the ring of its generation reports each reduction failed, naming the member it missed (never silent, never on the previous ring)', async () => {
    await experiments.newGeneration(EXP, ['w0', 'w1']);
    const session = ExperimentSession.load(EXP, SPEC, dataRoot);
    const w0 = {
      id: 'w0',
      session,
      participant: new StepParticipant(session, {
        workerId: 'w0',
        bus,
        experiments,
        collectives: {
          forMembers: async () => {
            throw new RingFormationError(`experiment ${EXP}: ring member w1 (rank 1) is not alive`, 'w1');
          },
        },
        checkpoints: new CheckpointWriter(path.join(dir, 'ckpt'), states),
        pollMs: 20,
        versionTimeoutMs: 2000,
      }),
    };
    await w0.participant.syncWithRecord();
    const r = await run(w0, job(0, 0));
    await w0.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: r.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }] }));
    expect(reports).toEqual([expect.objectContaining({ member: 'w0', ok: false, peer: 'w1', error: expect.stringMatching(/^worker w0: RingFormationError: .*ring member w1 \(rank 1\) is not alive/) })]);
  });

  it('two generations opened back to back and adopted by both paths at once (the message chain, syncWithRecord) end on the newer one and its ring, never the older ring formed last', async () => {
    const used: string[] = [];
    let releaseSingle!: () => void;
    const single = new Promise<void>((resolve) => (releaseSingle = resolve));
    let singleAsked = 0;
    // A ring of n members that sums as if every member held this one's gradient, and says which ring it is.
    const ring = (members: readonly string[]) => ({
      rank: 0,
      size: members.length,
      allReduceSum: async (_ctx: unknown, buffers: Float32Array[]) => {
        used.push(members.join(','));
        for (const b of buffers) for (let i = 0; i < b.length; i++) b[i] *= members.length;
      },
      close: async () => undefined,
    });
    await experiments.newGeneration(EXP, ['w0']); // 1
    const session = ExperimentSession.load(EXP, SPEC, dataRoot);
    let first = true;
    const participant = new StepParticipant(session, {
      workerId: 'w0',
      bus,
      experiments,
      collectives: {
        forMembers: async (_experiment, members) => {
          // The ring of generation 2 (w0 alone, after its peer was lost) forms slowly.
          if (members.length === 1 && !first) {
            singleAsked++;
            await single;
          }
          first = false;
          return ring(members);
        },
      },
      checkpoints: new CheckpointWriter(path.join(dir, 'ckpt'), states),
      pollMs: 20,
      versionTimeoutMs: 2000,
    });
    const m = { id: 'w0', session, participant };
    await participant.syncWithRecord();
    await experiments.newGeneration(EXP, ['w0']); // 2: the survivor alone
    await experiments.newGeneration(EXP, ['w0', 'w1']); // 3: a joiner taken in at once
    const viaChain = participant.receive(msg({ type: 'generation', experiment: EXP, generation: 2, step: 0, members: ['w0'] }));
    while (singleAsked === 0) await settle();
    const viaRecord = participant.syncWithRecord();
    await settle();
    releaseSingle();
    await Promise.all([viaChain, viaRecord]);
    expect({ generation: participant.generation, members: participant.members, rank: participant.rank }).toEqual({ generation: 3, members: ['w0', 'w1'], rank: 0 });
    const r = await run(m, job(0, 0, 3));
    await participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 3, step: 0, count: r.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }] }));
    expect(used).toEqual(['w0,w1']);
    expect(reports).toEqual([expect.objectContaining({ member: 'w0', generation: 3, step: 0, ok: true })]);
  });

  it('a member named for a job it holds no gradient of reports a failure instead of contributing less', async () => {
    const [w0, w1] = await members(2);
    const r = await run(w0, job(0, 0));
    const jobs = [
      { firstStream: 0, worker: 'w0' },
      { firstStream: 2, worker: 'w1' }, // w1 never ran it (e.g. dropped on a generation change)
    ];
    await Promise.all([w0, w1].map((m) => m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: 2 * r.count, lossSum: 0, jobs }))));
    await settle();
    // w1 still entered the all-reduce (w0 did not hang), then failed the step.
    expect(reports.find((x) => x.member === 'w0')).toMatchObject({ ok: true });
    expect(reports.find((x) => x.member === 'w1')).toMatchObject({ ok: false, error: expect.stringMatching(/^worker w1: MissingContributionError: .*accepted from w1, which holds no gradient/) });
    expect(reports.find((x) => x.member === 'w1')?.peer).toBeUndefined(); // no suspect: the coordinator does not wait for anyone to leave
    expect(w1.participant.phase).toBe(MemberPhase.Failed);
  });

  it('running a window job twice writes the same state bytes and adds its gradient once', async () => {
    const [m] = await members(1);
    // Step 1 reads a stored state: commit step 0 first.
    const r0 = await run(m, job(0, 0));
    const r1 = await run(m, job(0, 2));
    await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: r0.count + r1.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }] }));
    await experiments.commit(EXP, 1, 0);
    await m.participant.receive(msg({ type: 'commit', experiment: EXP, generation: 1, step: 0 }));

    const first = await run(m, job(1, 2));
    const stateOnce = (await states.get(EXP, 2, 2, 2)) as Float32Array[];
    const mine = [{ firstStream: 2, worker: 'w0' }];
    expect(m.session.heldJobs(1, 1)).toEqual([2]);
    const acc = copy(m.session.takeContribution(1, 1, mine, 'w0').grads);
    const second = await run(m, job(1, 2));
    const third = await run(m, job(1, 2));
    const stateTwice = (await states.get(EXP, 2, 2, 2)) as Float32Array[];
    const { computeSeconds: _c, startedAt: _s, ...result } = first;
    expect(second).toEqual({ ...result, computeSeconds: expect.any(Number), startedAt: expect.any(Number) });
    expect(third).toEqual({ ...result, computeSeconds: expect.any(Number), startedAt: expect.any(Number) });
    expect(stateTwice.map((l) => Buffer.from(l.buffer).toString('hex'))).toEqual(stateOnce.map((l) => Buffer.from(l.buffer).toString('hex')));
    // The input state of step 1 is untouched: the job wrote under step 2 only.
    expect(await states.get(EXP, 2, 2, 1)).toBeDefined();
    // Run twice after the first was taken: held once, and it is the same gradient bit for bit.
    expect(m.session.heldJobs(1, 1)).toEqual([2]);
    expect(same(m.session.takeContribution(1, 1, mine, 'w0').grads, acc)).toBe(true);
  });

  it('the sum of held gradients built ahead (while the event loop is idle) is the direct sum bit for bit, and is used only for exactly the accepted jobs', async () => {
    const [m] = await members(1);
    const g = (v: number): Map<string, Float32Array> => new Map([...m.session.params].map(([k, a]) => [k, Float32Array.from(a, (_, i) => v * Math.sin(i + 1) + 1e-3 * i)]));
    const direct = (ids: number[]): Map<string, Float32Array> => {
      const sum = copy(g(ids[0] + 1));
      for (const f of ids.slice(1)) for (const [k, a] of sum) for (let i = 0; i < a.length; i++) a[i] += (g(f + 1).get(k) as Float32Array)[i];
      return sum;
    };
    for (const f of [0, 2]) m.session.addContribution(1, 0, f, g(f + 1));
    await settle(); // the running sum is built on a later turn of the event loop
    const both = m.session.takeContribution(1, 0, [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }], 'w0');
    expect(both.jobs).toBe(2);
    expect(same(both.grads, direct([0, 2]))).toBe(true);
    // Another worker's result accepted for job 2: only job 0 counts, its gradient untouched by the running sum.
    for (const f of [0, 2]) m.session.addContribution(1, 0, f, g(f + 1));
    await settle();
    const one = m.session.takeContribution(1, 0, [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w1' }], 'w0');
    expect(one.jobs).toBe(1);
    expect(same(one.grads, g(1))).toBe(true);
  });

  it('a hidden-state write still in flight is waited for before the report, and a failed one fails it (the step cannot commit without the state)', async () => {
    const [m] = await members(1);
    const r0 = await run(m, job(0, 0));
    let release!: () => void;
    m.session.trackWrite(1, 0, new Promise<void>((resolve) => (release = resolve)));
    const reducing = m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: r0.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }] }));
    await settle();
    expect(reports).toEqual([]);
    release();
    await reducing;
    expect(reports).toEqual([expect.objectContaining({ member: 'w0', step: 0, ok: true })]);

    reports.length = 0;
    await m.participant.receive(msg({ type: 'abort', experiment: EXP, generation: 1, step: 0, reason: 'test' }));
    const again = await run(m, job(0, 0));
    m.session.trackWrite(1, 0, Promise.reject(new Error('redis write failed')));
    await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: again.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }] }));
    expect(reports).toEqual([expect.objectContaining({ member: 'w0', step: 0, ok: false, error: expect.stringMatching(/redis write failed/) })]);
    expect(m.participant.phase).toBe(MemberPhase.Failed);
  });

  it('a job enqueued ahead waits for the commit of the previous step, and a new generation releases it (refused) instead of holding the job slot', async () => {
    const [m] = await members(1);
    const r0 = await run(m, job(0, 0));
    const r1 = await run(m, job(0, 2));
    // Step 1's job is taken while step 0 reduces: it does not compute before the commit.
    const ahead = run(m, job(1, 0));
    let done = false;
    void ahead.then(() => (done = true));
    await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: r0.count + r1.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }] }));
    await settle();
    expect(done).toBe(false);
    await experiments.commit(EXP, 1, 0);
    await m.participant.receive(msg({ type: 'commit', experiment: EXP, generation: 1, step: 0 }));
    expect((await ahead).count).toBeGreaterThan(0);
    expect(m.session.heldJobs(1, 1)).toEqual([0]);

    // Another ahead job, of step 2; step 1 then fails and generation 2 opens: the job is released at once.
    const stale = run(m, job(2, 0));
    stale.catch(() => undefined);
    await settle();
    const t0 = Date.now();
    await experiments.newGeneration(EXP, ['w0']);
    await m.participant.receive(msg({ type: 'generation', experiment: EXP, generation: 2, step: 1, members: ['w0'] }));
    await expect(stale).rejects.toThrow(/generation 2 replaced generation 1/);
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it('a non-finite reduced gradient skips the step: reported as skipped, committed without change, counted', async () => {
    const [m] = await members(1);
    const before = copy(m.session.params);
    const poisoned = new Map([...m.session.params].map(([k, v]) => [k, new Float32Array(v.length).fill(k === 'decoder.bias' ? Number.NaN : 0.1)]));
    m.session.addContribution(1, 0, 0, poisoned);
    await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: 10, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }] }));
    await settle();
    expect(reports).toEqual([expect.objectContaining({ ok: true, skipped: true, gradNorm: Number.NaN })]);
    await m.participant.receive(msg({ type: 'commit', experiment: EXP, generation: 1, step: 0 }));
    expect(m.session.version).toBe(1);
    expect(same(m.session.params, before)).toBe(true);
    expect(m.session.counters).toEqual({ skipped: 1, clipped: 0 });
    expect(m.session.optimizer.state().meta.step).toBe(0);
  });

  it('a new generation opened after a commit whose message was lost applies that commit instead of dropping it (coordinator restart)', async () => {
    const [m] = await members(1);
    const r0 = await run(m, job(0, 0));
    const r1 = await run(m, job(0, 2));
    await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: r0.count + r1.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }] }));
    const staged = copy(m.session.staged?.params as Map<string, Float32Array>);
    await experiments.commit(EXP, 1, 0); // the coordinator committed, then died before publishing 'commit'
    await experiments.newGeneration(EXP, ['w0']); // its successor resumes at step 1
    await m.participant.receive(msg({ type: 'generation', experiment: EXP, generation: 2, step: 1, members: ['w0'] }));
    expect(m.session.version).toBe(1);
    expect(same(m.session.params, staged)).toBe(true);
  });

  it('a job waits for the commit of the previous step, and a lost commit message is healed from the record', async () => {
    const [m] = await members(1);
    const r0 = await run(m, job(0, 0));
    const r1 = await run(m, job(0, 2));
    await m.participant.receive(msg({ type: 'reduce', experiment: EXP, generation: 1, step: 0, count: r0.count + r1.count, lossSum: 0, jobs: [{ firstStream: 0, worker: 'w0' }, { firstStream: 2, worker: 'w0' }] }));
    const pending = run(m, job(1, 0));
    await settle();
    expect(m.session.version).toBe(0);
    await experiments.commit(EXP, 1, 0); // committed, but the 'commit' message never arrives
    await expect(pending).resolves.toMatchObject({ worker: 'w0' });
    expect(m.session.version).toBe(1);
  });
});
