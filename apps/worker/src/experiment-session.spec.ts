/**
 * The session's staging copies taken ahead (prepareStaging): the optimizer's rollback
 * copy of a committed update is reused for the next one — same bytes as a fresh copy,
 * no fresh megabytes per step — and an abort after that still restores the optimizer.
 */
import { selectBackend } from '@unroll/models';
import { ExperimentSession } from './experiment-session';
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
