/**
 * ExperimentRunner's recovery decision after a failed step, over the in-memory
 * cluster fakes: the members are registrations and a window consumer in this test,
 * which publishes their reports itself.
 */
import type { ControlMessage } from '@unroll/cluster';
import { InMemoryControlBus, InMemoryExperimentStore, InMemoryHiddenStateStore, InMemoryMembershipStore, InMemoryWindowQueue } from '@unroll/cluster/testing';
import { ExperimentPhase, ExperimentRunner } from './experiment-runner';
import { MembershipWatcher } from './membership-watcher';

const SPEC = `apiVersion: unroll/v1
kind: Experiment
metadata: {name: grace}
spec:
  seed: 1
  backend: cpu
  data: {dataset: text, path: corpus.txt, validationFraction: 0.1}
  model: {cell: lstm, embedding: 4, hidden: 4, layers: 1}
  tbptt: {streams: 2, window: 3, microBatch: 1}
  loss: cross-entropy
  optimizer: {name: adam, lr: 0.01}
  steps: 3
  workers: {min: 2, max: 2}
`;

/** A run of two members whose first reduction fails with `failed` (w1's report); returns how long the run took to end, and how. */
async function runFailing(failed: Partial<Extract<ControlMessage, { type: 'report' }>>, lossGraceMs: number) {
  const membership = new InMemoryMembershipStore();
  const experiments = new InMemoryExperimentStore();
  const bus = new InMemoryControlBus();
  const windows = new InMemoryWindowQueue();
  for (const id of ['w0', 'w1']) await membership.register({ id, ringAddress: `127.0.0.1:${id === 'w0' ? 1 : 2}`, backend: 'cpu', kernel: 'tfjs', device: 'cpu', startedAt: 0 }, 60_000);
  await experiments.create({ id: 'exp', specYaml: SPEC, status: 'queued', step: 0, generation: 0, members: [] });
  const stop = await windows.consume('w0', async () => ({ lossSum: 1, count: 3, worker: 'w0', computeSeconds: 0 }));
  const unsubscribe = await bus.subscribe('exp', (m) => {
    if (m.type !== 'reduce') return;
    const base = { type: 'report', experiment: 'exp', generation: m.generation, step: m.step, gradNorm: 1, skipped: false, reduceSeconds: 0, applySeconds: 0 } as const;
    void bus.publish({ ...base, member: 'w0', ok: true });
    void bus.publish({ ...base, member: 'w1', ok: false, gradNorm: Number.NaN, ...failed });
  });
  const runner = new ExperimentRunner({ experiments, states: new InMemoryHiddenStateStore(), bus, windows, watcher: new MembershipWatcher(membership, { pollMs: 50 }) }, { lossGraceMs });
  const started = Date.now();
  try {
    const phase = await runner.run('exp');
    return { phase, seconds: (Date.now() - started) / 1000, error: (await experiments.get('exp'))?.error ?? '' };
  } finally {
    await unsubscribe();
    await stop();
    await windows.close();
  }
}

describe('ExperimentRunner: a failed step', () => {
  it('that names no suspect (no dead ring peer, no missing report) ends the run at once: nobody was lost', async () => {
    const r = await runFailing({ error: 'worker w1: MessageRejectedError: INVALID_ARGUMENT: chunk of another step' }, 3000);
    expect(r.phase).toBe(ExperimentPhase.Failed);
    expect(r.error).toContain('MessageRejectedError: INVALID_ARGUMENT: chunk of another step');
    expect(r.seconds).toBeLessThan(1.5);
  });

  it('that names a ring peer waits up to lossGraceMs for it to leave the cluster before ending the run', async () => {
    const r = await runFailing({ error: 'worker w1: ring peer w0 PeerDeadlineError: peer rank 0 at 127.0.0.1:1: ring stream failed', peer: 'w0' }, 1500);
    expect(r.phase).toBe(ExperimentPhase.Failed);
    expect(r.error).toContain('ring peer w0 PeerDeadlineError');
    expect(r.seconds).toBeGreaterThanOrEqual(1.5);
  });
});
