/**
 * A WorkerNode that loads an experiment again while a window job waits on its old
 * session, over the in-memory cluster fakes: the worker holds the experiment as an
 * observer (parameters at version 0 — an observer applies no commits), the run goes
 * on to step 2, and a new generation names the worker. A job of that generation and
 * step reaches the worker while its handle is still the observer's session and waits
 * there for version 2; then the generation's announcement makes the worker release
 * that session and load the experiment again, with the committed state fetched from
 * a member (collectives.fetchState). The job must not wait out its version timeout:
 * it runs again at once on the session loaded anew and returns what the fetched
 * parameters give, and the old participant is closed.
 */
import path from 'node:path';
import type { ControlMessage, WindowJob, WindowResult } from '@unroll/cluster';
import { InMemoryControlBus, InMemoryExperimentStore, InMemoryHiddenStateStore, InMemoryMembershipStore, InMemoryWindowQueue } from '@unroll/cluster/testing';
import type { StateSnapshot } from '@unroll/collective';
import { InMemoryCollectiveHub } from '@unroll/collective/testing';
import { selectBackend } from '@unroll/models';
import { CLUSTER_CHANNEL } from './cluster-channel';
import { ExperimentSession } from './experiment-session';
import { packState } from './hidden-state-layout';
import { beginUpdate } from './staged-update';
import { snapshotOf } from './state-snapshot';
import { sessionWorkspace, tinySessionSpec } from './testing/session-fixture';
import { executeWindow } from './window-executor';
import { WorkerNode } from './worker-node';

const SPEC = tinySessionSpec({ name: 'reload', seed: 7, cell: 'lstm', layers: 1 });
const EXP = 'exp-reload';
/** The step the run has reached when the worker is taken in (a window inside the first epoch: it reads a stored hidden state). */
const STEP = 2;
/** Far longer than the test may take: a job that waits it out has not been re-run. */
const VERSION_TIMEOUT_MS = 30_000;
/** How long the waiting job may take to settle once the announcement is out. */
const SETTLE_WITHIN_MS = 5_000;

const bits = (m: ReadonlyMap<string, Float32Array>): string[] => [...m].map(([k, v]) => `${k}:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`);

/** The cluster's announcement that EXP opened `generation` at `step` (apps/coordinator/src/cluster-channel.ts). */
const announcement = (generation: number, step: number): ControlMessage => ({ type: 'generation', experiment: CLUSTER_CHANNEL, generation, step, members: [EXP] });

async function until(what: string, ok: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what} not seen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('WorkerNode: a job waiting on a session the worker loads again', () => {
  const { dataRoot, remove } = sessionWorkspace('the quick brown fox jumps over the lazy dog. '.repeat(20));
  let experiments: InMemoryExperimentStore;
  let states: InMemoryHiddenStateStore;
  let bus: InMemoryControlBus;
  let windows: InMemoryWindowQueue;
  let worker: WorkerNode | undefined;
  let member: ExperimentSession | undefined;

  beforeAll(async () => {
    await selectBackend('cpu');
  });

  afterAll(() => remove());

  beforeEach(() => {
    experiments = new InMemoryExperimentStore();
    states = new InMemoryHiddenStateStore();
    bus = new InMemoryControlBus();
    windows = new InMemoryWindowQueue();
  });

  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    member?.dispose();
    member = undefined;
    await windows.close();
    await bus.close();
  });

  /** Member w1's session at version `steps`: that many updates committed (synthetic gradients), the state a joiner fetches. */
  function memberAt(steps: number): ExperimentSession {
    const s = ExperimentSession.load(EXP, SPEC, dataRoot);
    for (let step = 0; step < steps; step++) {
      const grads = new Map(s.parameterOrder.map((n, i) => [n, Float32Array.from(s.params.get(n) as Float32Array, (x, k) => Math.sin(x + k + i + step))]));
      s.stage(beginUpdate({ generation: 1, step }, s.params, s.optimizer, grads, 7, undefined).finish());
      s.commit(1, step);
    }
    return s;
  }

  it('re-runs a job that waited on the released observer session at once on the session loaded again, on the fetched parameters, and closes the old participant', async () => {
    const from = memberAt(STEP);
    member = from;
    const lines: string[] = [];
    const fetched: Array<{ experiment: string; generation: number; step: number; from: string[] }> = [];
    const hub = new InMemoryCollectiveHub(2);
    const node = new WorkerNode(
      {
        membership: new InMemoryMembershipStore(),
        experiments,
        states,
        bus,
        windows,
        collectives: {
          forMembers: async (_experiment, _members, rank) => hub.members[rank],
          fetchState: async (experiment, generation, step, fromMembers): Promise<StateSnapshot> => {
            fetched.push({ experiment, generation, step, from: [...fromMembers] });
            return snapshotOf(from, generation);
          },
        },
      },
      {
        info: { id: 'w0', ringAddress: 'in-memory://1', backend: 'cpu', kernel: 'tfjs', device: 'cpu', startedAt: Date.now() },
        dataRoot,
        checkpointDir: path.join(dataRoot, '..', 'checkpoints'),
        heartbeatTtlMs: 3_000,
        versionTimeoutMs: VERSION_TIMEOUT_MS,
        compute: 'inline',
        log: (line) => lines.push(line),
      },
    );
    worker = node;
    await node.start();

    // Generation 1 (w1 alone) at step 0: the announcement makes w0 load the experiment as an observer.
    await experiments.create({ id: EXP, specYaml: SPEC, status: 'running', step: 0, generation: 0, members: [] });
    await experiments.newGeneration(EXP, ['w1']);
    await bus.publish(announcement(1, 0));
    await until('the observer joining', () => lines.some((l) => l.includes(`joined ${EXP}`) && l.includes('as an observer')));
    const observer = await node.experiment(EXP);
    expect(observer.participant.rank).toBe(-1);
    expect(observer.session.version).toBe(0);
    const versionZero = bits(observer.session.params);

    // The run goes on to step 2 without w0, then generation 2 takes it in as rank 1.
    for (let step = 0; step < STEP; step++) await experiments.commit(EXP, 1, step);
    const generation = await experiments.newGeneration(EXP, ['w1', 'w0']);
    // Step 2 is not an epoch's first window: the job reads the hidden state step 1's jobs stored.
    const stored = packState(from.net.zeroState(2)).map((a) => Float32Array.from(a, (_, i) => Math.sin(i + 1) / 2));
    await states.put(EXP, 0, 2, STEP, stored);
    expect(from.schedule.windowAt(STEP).index).toBeGreaterThan(0);

    // The job of generation 2, step 2 reaches w0 while its handle is the observer's session: it waits there for version 2.
    const job: WindowJob = { experiment: EXP, generation, step: STEP, firstStream: 0, streams: 2 };
    const waitOnObserver = observer.session.awaitParams.bind(observer.session);
    let entered!: () => void;
    const waiting = new Promise<void>((resolve) => (entered = resolve));
    const waits = jest.spyOn(observer.session, 'awaitParams').mockImplementation((...args) => {
      const wait = waitOnObserver(...args);
      entered();
      return wait;
    });
    let outcome: { result: WindowResult } | { error: unknown } | undefined;
    const settled = node.runJob(job).then(
      (result) => void (outcome = { result }),
      (error: unknown) => void (outcome = { error }),
    );
    await waiting;
    expect(waits).toHaveBeenCalledWith(STEP, generation, expect.anything());
    expect(outcome).toBeUndefined();

    // The announcement of generation 2: w0 releases the observer's session and loads the experiment again from a member.
    const t0 = Date.now();
    await bus.publish(announcement(generation, STEP));
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise((resolve) => (bound = setTimeout(resolve, SETTLE_WITHIN_MS)))]);
    clearTimeout(bound);
    const elapsed = Date.now() - t0;
    expect(outcome).toBeDefined();
    expect(elapsed).toBeLessThan(SETTLE_WITHIN_MS);
    if (outcome === undefined || 'error' in outcome) throw outcome?.error ?? new Error(`the job did not settle within ${SETTLE_WITHIN_MS} ms`);
    const { result } = outcome;
    expect(lines).toContainEqual(expect.stringContaining(`window job ${EXP}/g${generation}/s${STEP}/streams 0+: its session was released while it waited; running it on the session loaded again`));

    // The session loaded anew: the state fetched once from w1, at version 2, w0 rank 1 of generation 2.
    expect(fetched).toEqual([{ experiment: EXP, generation, step: STEP, from: ['w1'] }]);
    const reloaded = await node.experiment(EXP);
    expect(reloaded.session).not.toBe(observer.session);
    expect(reloaded.session.version).toBe(STEP);
    expect(bits(reloaded.session.params)).toEqual(bits(from.params));
    expect(bits(reloaded.session.params)).not.toEqual(versionZero);
    expect(reloaded.participant.generation).toBe(generation);
    expect(reloaded.participant.rank).toBe(1);

    // The result and the gradient held are those of the window on the fetched parameters (the member's, version 2) and the stored state.
    const reference = await executeWindow(
      { workerId: 'w0', experiments, states: { get: (...a) => states.get(...a), put: async () => undefined }, session: async () => from, awaitVersion: async () => undefined },
      job,
    );
    expect(result.worker).toBe('w0');
    expect(result.count).toBe(reference.count);
    expect(result.lossSum).toBe(reference.lossSum);
    expect(reloaded.session.heldJobs(generation, STEP)).toEqual([0]);
    const accepted = [{ firstStream: 0, worker: 'w0' }];
    expect(bits(reloaded.session.takeContribution(generation, STEP, accepted, 'w0').grads)).toEqual(bits(from.takeContribution(generation, STEP, accepted, 'w0').grads));

    // The observer's participant is closed: a message still reaching it adopts nothing.
    await observer.participant.receive({ type: 'generation', experiment: EXP, generation: generation + 1, step: STEP, members: ['w1'] });
    expect(observer.participant.generation).toBe(1);
  }, 20_000);
});
