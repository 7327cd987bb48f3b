/**
 * The committed state a member hands a joiner (state-snapshot.ts): what goes in comes
 * out bit for bit — parameters, optimizer slots and step count, counters, version —
 * and a snapshot that does not fit the joiner's network is refused with a clear error.
 */
import type { StateSnapshot } from '@unroll/collective';
import { selectBackend } from '@unroll/models';
import { ExperimentSession } from './experiment-session';
import { sessionWorkspace, tinySessionSpec } from './testing/session-fixture';
import { beginUpdate } from './staged-update';
import { restoreSnapshot, snapshotOf, StateSnapshotError } from './state-snapshot';

const SPEC = tinySessionSpec({ name: 'snap', seed: 3, cell: 'gru', layers: 2 });

const bits = (m: ReadonlyMap<string, Float32Array>): string[] => [...m].map(([k, v]) => `${k}:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`);

describe('state snapshot for a joining worker', () => {
  const { dataRoot, remove } = sessionWorkspace('the quick brown fox jumps over the lazy dog. '.repeat(20));

  beforeAll(async () => {
    await selectBackend('cpu');
  });

  afterAll(() => remove());

  /** A member at version 2 (two committed updates), with counters, and — optionally — an update of step 2 staged. */
  function member(staged: boolean): ExperimentSession {
    const s = ExperimentSession.load('e', SPEC, dataRoot);
    for (let step = 0; step < (staged ? 3 : 2); step++) {
      const grads = new Map(s.parameterOrder.map((n, i) => [n, Float32Array.from(s.params.get(n) as Float32Array, (x, k) => Math.sin(x + k + i + step))]));
      s.stage(beginUpdate({ generation: 1, step }, s.params, s.optimizer, grads, 7, undefined).finish());
      if (step < 2) s.commit(1, step);
    }
    s.counters.clipped = 1;
    return s;
  }

  it('round trip: the joiner gets the committed parameters, optimizer state, counters and version bit for bit — the state before a staged update, not after', () => {
    for (const staged of [false, true]) {
      const from = member(staged);
      const committedOptimizer = staged ? (from.staged?.optimizerBefore ?? from.optimizer.state()) : from.optimizer.state();
      const joiner = ExperimentSession.load('e', SPEC, dataRoot);
      restoreSnapshot(joiner, snapshotOf(from, 2));
      expect(joiner.version).toBe(2);
      expect(bits(joiner.params)).toEqual(bits(from.params));
      expect(bits(joiner.optimizer.state().slots)).toEqual(bits(committedOptimizer.slots));
      expect(joiner.optimizer.state().meta).toEqual(committedOptimizer.meta);
      expect(joiner.optimizer.state().meta.step).toBe(2);
      expect(joiner.counters).toEqual({ skipped: 0, clipped: 1 });
      // Committed parameters live on shared memory (the compute thread reads them in place).
      expect([...joiner.params.values()].every((a) => a.buffer instanceof SharedArrayBuffer)).toBe(true);
      from.dispose();
      joiner.dispose();
    }
  });

  it('refuses a snapshot that does not fit: a missing or resized parameter, no metadata, or a session that already moved', () => {
    const from = member(false);
    const good = snapshotOf(from, 2);
    const fresh = (): ExperimentSession => ExperimentSession.load('e', SPEC, dataRoot);
    const without = (name: string): StateSnapshot => ({ ...good, tensors: good.tensors.filter((t) => t.name !== name) });
    const resized: StateSnapshot = { ...good, tensors: good.tensors.map((t) => (t.name === 'param.rnn.weight_hh_l1' ? { ...t, data: t.data.subarray(1) } : t)) };
    expect(() => restoreSnapshot(fresh(), without('param.rnn.weight_hh_l1'))).toThrow(/parameter rnn.weight_hh_l1 is missing/);
    expect(() => restoreSnapshot(fresh(), resized)).toThrow(/parameter rnn.weight_hh_l1 has \d+ values, the network needs \d+/);
    expect(() => restoreSnapshot(fresh(), without('unroll.meta'))).toThrow(StateSnapshotError);
    const garbled: StateSnapshot = { ...good, tensors: good.tensors.map((t) => (t.name === 'unroll.meta' ? { ...t, data: new Float32Array(4).fill(1) } : t)) };
    expect(() => restoreSnapshot(fresh(), garbled)).toThrow(/unroll.meta is not JSON/);
    expect(() => restoreSnapshot(from, good)).toThrow(/goes into a fresh session/);
    from.dispose();
  });
});
