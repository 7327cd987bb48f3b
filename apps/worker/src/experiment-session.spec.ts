/**
 * The session's staging copies taken ahead (prepareStaging): the optimizer's rollback
 * copy of a committed update is reused for the next one — same bytes as a fresh copy,
 * no fresh megabytes per step — and an abort after that still restores the optimizer.
 */
import { selectBackend } from '@unroll/models';
import { ExperimentSession, SessionReleasedError } from './experiment-session';
import { sessionWorkspace, tinySessionSpec } from './testing/session-fixture';
import { beginUpdate } from './staged-update';

const SPEC = tinySessionSpec({ name: 'session', seed: 4, cell: 'lstm', layers: 1 });

const hex = (m: ReadonlyMap<string, Float32Array>): string[] => [...m].map(([k, v]) => `${k}:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`);

describe('ExperimentSession staging copies', () => {
  const ws = sessionWorkspace('a stitch in time saves nine. '.repeat(20));

  beforeAll(async () => {
    await selectBackend('cpu');
  });

  afterAll(() => ws.remove());

  it("reuses the committed update's rollback copy for the next one, and an abort still restores the optimizer", () => {
    const s = ExperimentSession.load('e', SPEC, ws.dataRoot);
    const grads = (step: number) => new Map(s.parameterOrder.map((n) => [n, Float32Array.from(s.params.get(n) as Float32Array, (x, k) => Math.cos(x * 3 + k + step))]));
    const stageWithPrepared = (step: number) => {
      s.prepareStaging();
      const prepared = s.takePrepared();
      expect(prepared).toBeDefined();
      s.stage(beginUpdate({ generation: 1, step }, s.params, s.optimizer, grads(step), 5, undefined, prepared).finish());
      return prepared?.optimizerBefore;
    };
    stageWithPrepared(0);
    s.commit(1, 0);
    const first = stageWithPrepared(1);
    s.commit(1, 1);
    const before = s.optimizer.state();
    const second = stageWithPrepared(2);
    // Step 1's rollback copy (no longer needed once step 1 committed) holds step 2's now: the same arrays, the right bytes.
    for (const [key, a] of second?.slots ?? []) expect(a).toBe(first?.slots.get(key));
    expect(hex(second?.slots ?? new Map())).toEqual(hex(before.slots));
    // The update of step 2 is aborted: the optimizer is as it was committed.
    expect(hex(s.optimizer.state().slots)).not.toEqual(hex(before.slots));
    s.rollback();
    expect(hex(s.optimizer.state().slots)).toEqual(hex(before.slots));
    expect(s.optimizer.state().meta).toEqual(before.meta);
    s.dispose();
  });
});

describe('ExperimentSession released', () => {
  const ws = sessionWorkspace('a stitch in time saves nine. '.repeat(20));

  beforeAll(async () => {
    await selectBackend('cpu');
  });

  afterAll(() => ws.remove());

  it('a wait for a version the session will never reach ends when the session is released, not at its timeout', async () => {
    const s = ExperimentSession.load('e', SPEC, ws.dataRoot);
    const opts = { timeoutMs: 60_000, pollMs: 10_000, heal: async () => undefined };
    const version = s.awaitVersion(5, opts);
    const params = s.awaitParams(5, 1, { ...opts, speculate: true });
    const t0 = Date.now();
    s.dispose();
    await expect(version).rejects.toThrow(SessionReleasedError);
    await expect(params).rejects.toThrow(/step 5 will not be reached in this wait: the session was released \(parameters at version 0\)/);
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(s.awaitVersion(5, opts)).rejects.toThrow(SessionReleasedError);
    await expect(s.awaitVersion(5, opts)).rejects.toMatchObject({ reloading: false });
  });

  it('released to be loaded again: the error says so (a job then runs again on the new session, whose participant answers the reduce)', async () => {
    const s = ExperimentSession.load('e', SPEC, ws.dataRoot);
    const version = s.awaitVersion(3, { timeoutMs: 60_000, pollMs: 10_000, heal: async () => undefined });
    s.dispose({ reloading: true });
    await expect(version).rejects.toMatchObject({ name: 'SessionReleasedError', reloading: true, message: expect.stringMatching(/released to be loaded again/) });
  });
});
