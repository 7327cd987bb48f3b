/**
 * DESIGN's five invariants, each with the tests that would fail if it were broken.
 * Tests marked (here) are in this file; the others are named by file and title.
 *
 * Invariant 1 — the global batch of step s depends on the spec and s alone
 *   - tests/distributed/parity.spec.ts: "invariant 1: 1, 2 and 3 workers train what one process trains
 *     › %i worker(s): final checkpoints of an LSTM and a GRU spec match unroll train within 1e-4"
 *     (real processes, Redis, BullMQ, gRPC ring; every model and state tensor)
 *   - tests/distributed/in-process-step.spec.ts: "one training step across an in-process cluster
 *     › %i member(s), %i micro-batches, …: parameters after 3 steps equal Trainer.runStep (≤ 1e-5) on every member"
 *   - tests/distributed/load-balance.spec.ts: "a wasm worker and a cpu worker train one experiment together …"
 *   - tests/distributed/episode-parity.spec.ts: "2 workers train what unroll train trains (≤ 1e-4), committing the unscored steps …"
 *     (an episode dataset: steps whose scored count is 0 commit without an update, as Trainer.runStep)
 *
 * Invariant 2 — window jobs are idempotent (same inputs, same bytes; a gradient counts once)
 *   - apps/worker/src/step-participant.spec.ts: "running a window job twice writes the same state bytes and adds its gradient once"
 *   - (here) "invariant 2: a window job run on two members writes the same state bytes and yields the same result and gradient bytes"
 *   - apps/worker/src/step-participant.spec.ts: "exactly once: a job the queue ran on two members counts once — …"
 *   - apps/worker/src/step-participant.spec.ts: "the sum of held gradients built ahead … is the direct sum bit for bit, and is used only for exactly the accepted jobs"
 *   - tests/distributed/in-process-step.spec.ts: "3 member(s), 3 micro-batches, …, every job run twice: …"
 *   - libs/cluster/src/bull-window-queue-fault.spec.ts: "a stalled worker that finishes after its job was taken over: the queue accepts one result, …"
 *   - apps/coordinator/src/step-driver.spec.ts: "fails the step, committing nothing, when a member reduced other jobs than the step accepted …"
 *     and apps/worker/src/step-participant.spec.ts: "starts the reduce from the queue's completion events: the same staged bytes, …"
 *     (members that build a step's 'reduce' from the queue's events reduce exactly the accepted jobs, or the step fails)
 *   - tests/distributed/event-loop.spec.ts: "inline, a window blocks the event loop …; on the compute thread …, with the same bytes"
 *
 * Invariant 3 — parameters change only at commit; a failure before commit leaves them unchanged
 *   - apps/worker/src/step-participant.spec.ts: "parameters change only at commit: between report and commit they are those of version s"
 *   - (here) "invariant 3: a reduction that fails leaves parameters, network and optimizer as committed; after the abort the step is redone to the same bytes"
 *   - apps/worker/src/step-participant.spec.ts: "an abort drops the staged update and restores the optimizer; the step can be reduced again"
 *   - apps/coordinator/src/step-driver.spec.ts: "a member reporting a failure aborts the step with its error, and nothing is committed"
 *   - apps/worker/src/step-participant.spec.ts: "a new generation opened after a commit whose message was lost applies that commit instead of dropping it"
 *     (nothing committed is redone)
 *   - apps/worker/src/step-participant.spec.ts: "a job enqueued ahead waits for the commit of the previous step, and a new generation releases it …"
 *     (a job of step s + 1 taken during step s's reduce computes only at version s + 1)
 *   - apps/coordinator/src/step-driver.spec.ts: "enqueueNext: step s + 1 is enqueued while step s reduces, …; withdrawn when step s fails"
 *   - apps/worker/src/step-participant.spec.ts: "a hidden-state write still in flight is waited for before the report, and a failed one fails it …"
 *     (the state of window s + 1 is stored before step s can commit)
 *
 * Invariant 4 — every message carries (experiment, generation, step); an older generation is refused
 *   - job:     apps/worker/src/step-participant.spec.ts: "a commit, reduce or abort of an older generation is refused" (its last assertion: the window job)
 *   - reduce:  the same test (reduce, commit and abort of generation 1 after generation 2: refused = 3, nothing staged or applied)
 *   - report:  apps/coordinator/src/step-driver.spec.ts: "refuses reports of an older generation: they do not count towards the commit"
 *   - commit:  apps/coordinator/src/step-driver.spec.ts: "the commit is fenced: a generation opened meanwhile makes it fail";
 *              libs/cluster/src/testing/experiment-store-conformance.ts: "commit refuses a stale generation and says expected vs got"
 *              (in-memory and Redis)
 *   - ring:    libs/collective/src/testing/collective-conformance.ts: "refuses a generation older than one already used";
 *              libs/collective/src/ring-protocol.spec.ts: "refuses a chunk with a wrong older generation …"
 *
 * Invariant 5 — collectives run in the same order on every member
 *   - (here) "invariant 5: every member hands the collective [layout, parameter gradients in the network's order], whatever order its maps hold"
 *   - (here) "invariant 5: a member that reduces another order is detected — every member fails the step and nothing is staged"
 *   - (here) "invariant 5: the collective alone cannot see a permutation of equal total size; the layout fingerprint does"
 *   - apps/worker/src/step-participant.spec.ts: "a member named for a job it holds no gradient of reports a failure instead of contributing less"
 *     (it still enters the all-reduce: no member waits on a reduction another never starts)
 *   - libs/collective/src/bucket-plan.spec.ts: "covers every element exactly once, in index order, at most E per bucket"
 *     (the plan is a function of the lengths, which the fingerprint covers) and
 *     libs/collective/src/ring-protocol.spec.ts: "refuses a chunk with a wrong offset …" (another bucket size is refused)
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { ReduceContext } from '@unroll/collective';
import { InMemoryCollectiveHub } from '@unroll/collective/testing';
import { selectBackend } from '@unroll/models';
import { LayoutMismatchError, layoutFingerprint, MemberPhase, reductionBuffers } from '@unroll/worker';
import { bytesOf, copyOf, maxAbsDiff, MemberFixture, sameBytes } from './support/members';
import { tinySpec, tinyWorkspace } from './support/tiny-experiment';

const EXP = 'inv';
// Three micro-batches of two streams; two LSTM layers (bias_ih and bias_hh of equal length: a swap keeps every length).
const SPEC = tinySpec({ name: 'invariants', steps: 4, tbptt: '{streams: 6, window: 6, stride: 4, microBatch: 2}' });
const ALL_ON = (id: string) => [0, 2, 4].map((firstStream) => ({ firstStream, worker: id }));
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('DESIGN invariants', () => {
  let dir: string;
  let dataRoot: string;
  let f: MemberFixture;

  beforeAll(async () => {
    await selectBackend('cpu');
  });

  beforeEach(async () => {
    ({ dir, dataRoot } = tinyWorkspace('unroll-invariants-'));
    f = await new MemberFixture(EXP, SPEC, dataRoot, path.join(dir, 'ckpt')).open();
  });

  afterEach(() => {
    f.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Step 0 on one member running every job: the staged parameters. */
  async function soloStaged(): Promise<Map<string, Float32Array>> {
    const [solo] = await f.members(1);
    const gen = (await f.experiments.get(EXP))?.generation as number;
    let count = 0;
    for (const first of [0, 2, 4]) count += (await solo.run(f.job(gen, 0, first))).count;
    await solo.participant.receive(f.reduce(gen, 0, count, ALL_ON(solo.id)));
    return copyOf(solo.session.staged?.params as Map<string, Float32Array>);
  }

  it('invariant 2: a window job run on two members writes the same state bytes and yields the same result and gradient bytes', async () => {
    const [a, b] = await f.members(2);
    const ra = await a.run(f.job(1, 0, 2));
    const stateA = ((await f.states.get(EXP, 2, 2, 1)) as Float32Array[]).map(bytesOf);
    const rb = await b.run(f.job(1, 0, 2));
    const stateB = ((await f.states.get(EXP, 2, 2, 1)) as Float32Array[]).map(bytesOf);
    expect(stateB).toEqual(stateA);
    expect({ ...rb, worker: 'x', computeSeconds: 0, startedAt: 0 }).toEqual({ ...ra, worker: 'x', computeSeconds: 0, startedAt: 0 });
    const ga = a.session.takeContribution(1, 0, [{ firstStream: 2, worker: a.id }], a.id).grads;
    const gb = b.session.takeContribution(1, 0, [{ firstStream: 2, worker: b.id }], b.id).grads;
    expect(sameBytes(ga, gb)).toBe(true);
  });

  it('invariant 3: a reduction that fails leaves parameters, network and optimizer as committed; after the abort the step is redone to the same bytes', async () => {
    const expected = await soloStaged();
    // The in-memory hub pairs the k-th calls of its members, so a failed reduction is redone on a fresh hub (the gRPC ring pairs by context).
    let hub = new InMemoryCollectiveHub(2, { timeoutMs: 300 });
    const [w0, w1] = await f.members(2, {
      wrap: (rank, c) => ({ rank, size: c.size, close: () => c.close(), allReduceSum: (ctx: ReduceContext, b: Float32Array[]) => hub.members[rank].allReduceSum(ctx, b) }),
    });
    const before = copyOf(w0.session.params);
    const optimizerBefore = JSON.stringify(w0.session.optimizer.state());
    let count = 0;
    for (const first of [0, 2, 4]) count += (await w0.run(f.job(2, 0, first))).count;
    // Only w0 gets the reduce: w1 never joins the all-reduce, whose deadline fails w0's reduction.
    await w0.participant.receive(f.reduce(2, 0, count, ALL_ON('w0')));
    await settle();
    expect(f.reports.filter((r) => r.generation === 2)).toEqual([expect.objectContaining({ member: 'w0', ok: false, error: expect.stringMatching(/PeerDeadlineError/) })]);
    expect(w0.participant.phase).toBe(MemberPhase.Failed);
    expect(w0.session.staged).toBeUndefined();
    expect(w0.session.version).toBe(0);
    expect(sameBytes(w0.session.params, before)).toBe(true);
    expect(sameBytes(w0.session.net.snapshot(), before)).toBe(true);
    expect(JSON.stringify(w0.session.optimizer.state())).toBe(optimizerBefore);

    // The coordinator aborts; the step is redone (its jobs, then the reduce) and gives what one process gives.
    for (const m of [w0, w1]) await m.participant.receive(f.message({ type: 'abort', experiment: EXP, generation: 2, step: 0, reason: 'w1 missed the deadline' }));
    expect(w0.participant.phase).toBe(MemberPhase.Ready);
    hub = new InMemoryCollectiveHub(2, { timeoutMs: 5000 });
    expect(w0.session.heldJobs(2, 0)).toEqual([]);
    for (const first of [0, 2, 4]) await w1.run(f.job(2, 0, first));
    await Promise.all([w0, w1].map((m) => m.participant.receive(f.reduce(2, 0, count, ALL_ON('w1')))));
    for (const m of [w0, w1]) expect(sameBytes(m.session.staged?.params as Map<string, Float32Array>, expected)).toBe(true);
  });

  it("invariant 5: every member hands the collective [layout, parameter gradients in the network's order], whatever order its maps hold", async () => {
    const expected = await soloStaged();
    const seen: Array<{ rank: number; lengths: number[]; layout: number[] }> = [];
    const members = await f.members(2, {
      wrap: (rank, c) => ({
        rank: c.rank,
        size: c.size,
        close: () => c.close(),
        allReduceSum: (ctx: ReduceContext, buffers: Float32Array[]) => {
          seen.push({ rank, lengths: buffers.map((b) => b.length), layout: [...buffers[0]] });
          return c.allReduceSum(ctx, buffers);
        },
      }),
    });
    const [w0, w1] = members;
    // w1's maps are built in reverse order: the reduction's order must not come from them.
    w1.session.params = new Map([...w1.session.params].reverse());
    let count = 0;
    for (const first of [0, 2, 4]) count += (await (first === 2 ? w1 : w0).run(f.job(2, 0, first))).count;
    const accepted = [
      { firstStream: 0, worker: 'w0' },
      { firstStream: 2, worker: 'w1' },
      { firstStream: 4, worker: 'w0' },
    ];
    await Promise.all(members.map((m) => m.participant.receive(f.reduce(2, 0, count, accepted))));
    const specs = w0.session.net.specs;
    const layout = specs.map((s) => [s.name, s.shape.reduce((x, y) => x * y, 1)] as [string, number]);
    expect(seen.map((s) => s.rank).sort()).toEqual([0, 1]);
    for (const s of seen) {
      expect(s.lengths).toEqual([4, ...layout.map(([, n]) => n)]);
      expect(s.layout).toEqual([...layoutFingerprint(layout)]);
    }
    expect(f.reports.filter((r) => r.generation === 2).map((r) => r.ok)).toEqual([true, true]);
    // Every member stages the same bytes (norm and clipping summed in one order), equal to one process's up to summation order.
    const staged = members.map((m) => m.session.staged?.params as Map<string, Float32Array>);
    expect(sameBytes(staged[0], staged[1])).toBe(true);
    expect(maxAbsDiff(staged[0], expected)).toBeLessThanOrEqual(1e-6);
  });

  it('invariant 5: a member that reduces another order is detected — every member fails the step and nothing is staged', async () => {
    const [w0, w1] = await f.members(2);
    // w1 reduces bias_hh before bias_ih (same lengths, so the ring itself would sum them without complaint).
    const order = w1.session.parameterOrder;
    const i = order.indexOf('rnn.bias_ih_l0');
    const j = order.indexOf('rnn.bias_hh_l0');
    expect(i).toBeGreaterThanOrEqual(0);
    [order[i], order[j]] = [order[j], order[i]];
    Object.defineProperty(w1.session, 'parameterOrder', { get: () => order });
    let count = 0;
    for (const first of [0, 2, 4]) count += (await w0.run(f.job(1, 0, first))).count;
    await Promise.all([w0, w1].map((m) => m.participant.receive(f.reduce(1, 0, count, ALL_ON('w0')))));
    await settle();
    const reports = f.reports.filter((r) => r.generation === 1);
    expect(reports).toHaveLength(2);
    for (const r of reports) expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/LayoutMismatchError: the members reduced different gradient layouts/) });
    for (const m of [w0, w1]) {
      expect(m.session.staged).toBeUndefined();
      expect(m.participant.phase).toBe(MemberPhase.Failed);
    }
  });

  it('invariant 5: the collective alone cannot see a permutation of equal total size; the layout fingerprint does', async () => {
    const hub = new InMemoryCollectiveHub(2, { timeoutMs: 2000 });
    const grads = () => new Map([['a', new Float32Array([1, 2])], ['b', new Float32Array([3, 4])]]);
    const ctx = { experiment: EXP, generation: 1, step: 0 };
    // Without the fingerprint: the sums of mismatched tensors come back as if all were well.
    const plain = [grads(), grads()];
    await Promise.all([hub.members[0].allReduceSum(ctx, [...plain[0].values()]), hub.members[1].allReduceSum(ctx, [plain[1].get('b') as Float32Array, plain[1].get('a') as Float32Array])]);
    expect([...(plain[0].get('a') as Float32Array)]).toEqual([4, 6]); // a + b: silently wrong
    // With it: both members see the mismatch.
    const r0 = reductionBuffers(['a', 'b'], grads());
    const r1 = reductionBuffers(['b', 'a'], grads());
    const ctx1 = { ...ctx, step: 1 };
    await Promise.all([hub.members[0].allReduceSum(ctx1, r0.buffers), hub.members[1].allReduceSum(ctx1, r1.buffers)]);
    expect(() => r0.verify(2)).toThrow(LayoutMismatchError);
    expect(() => r1.verify(2)).toThrow(LayoutMismatchError);
    // The same layout passes, for any ring size whose sums stay exact.
    const same = [reductionBuffers(['a', 'b'], grads()), reductionBuffers(['a', 'b'], grads())];
    await Promise.all(same.map((r, k) => hub.members[k].allReduceSum({ ...ctx, step: 2 }, r.buffers)));
    for (const r of same) expect(() => r.verify(2)).not.toThrow();
    await Promise.all(hub.members.map((m) => m.close()));
  });
});
