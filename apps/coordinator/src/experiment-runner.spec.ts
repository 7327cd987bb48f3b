/**
 * ExperimentRunner's recovery decision after a failed step, over the in-memory
 * cluster fakes: the members are registrations and a window consumer in this test,
 * which publishes their reports itself.
 */
import type { ControlMessage } from '@unroll/cluster';
import { InMemoryControlBus, InMemoryExperimentStore, InMemoryHiddenStateStore, InMemoryMembershipStore, InMemoryWindowQueue } from '@unroll/cluster/testing';
import { ExperimentPhase, ExperimentRunner } from './experiment-runner';
import { MembershipWatcher } from './membership-watcher';

const spec = (min: number): string => `apiVersion: unroll/v1
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
  workers: {min: ${min}, max: 2}
`;

/**
 * A run of two members whose first reduction fails with `failed` (w1's report; w1 is
 * withdrawn from the membership first when `w1Gone`); returns how long the run took
 * to end, and how. After the failure w0 alone reports, ok.
 */
async function runFailing(failed: Partial<Extract<ControlMessage, { type: 'report' }>>, lossGraceMs: number, o: { w1Gone?: boolean; min?: number; cancel?: boolean } = {}) {
  const membership = new InMemoryMembershipStore();
  const experiments = new InMemoryExperimentStore();
  const bus = new InMemoryControlBus();
  const windows = new InMemoryWindowQueue();
  for (const id of ['w0', 'w1']) await membership.register({ id, ringAddress: `127.0.0.1:${id === 'w0' ? 1 : 2}`, backend: 'cpu', kernel: 'tfjs', device: 'cpu', startedAt: 0 }, 60_000);
  await experiments.create({ id: 'exp', specYaml: spec(o.min ?? 2), status: 'queued', step: 0, generation: 0, members: [] });
  const stop = await windows.consume('w0', async () => ({ lossSum: 1, count: 3, worker: 'w0', computeSeconds: 0 }));
  const unsubscribe = await bus.subscribe('exp', (m) => {
    if (m.type !== 'reduce') return;
    const base = { type: 'report', experiment: 'exp', generation: m.generation, step: m.step, gradNorm: 1, skipped: false, reduceSeconds: 0, applySeconds: 0 } as const;
    void bus.publish({ ...base, member: 'w0', ok: true });
    if (m.generation > 1) return; // w1 is no longer a member
    void (async () => {
      if (o.w1Gone) await membership.deregister('w1');
      if (o.cancel) await experiments.setStatus('exp', 'cancelled');
      await bus.publish({ ...base, member: 'w1', ok: false, gradNorm: Number.NaN, ...failed });
    })();
  });
  const runner = new ExperimentRunner({ experiments, states: new InMemoryHiddenStateStore(), bus, windows, watcher: new MembershipWatcher(membership, { pollMs: 50 }) }, { lossGraceMs });
  const started = Date.now();
  try {
    const phase = await runner.run('exp');
    const record = await experiments.get('exp');
    return { phase, seconds: (Date.now() - started) / 1000, error: record?.error ?? '', status: record?.status, generation: record?.generation, members: record?.members };
  } finally {
    await unsubscribe();
    await stop();
    await windows.close();
  }
}

describe('ExperimentRunner: a failed step', () => {
  it('that names no suspect (no dead ring peer, no missing report) ends the run after 1 s, not after the heartbeat\'s grace: nobody was lost', async () => {
    const r = await runFailing({ error: 'worker w1: MessageRejectedError: INVALID_ARGUMENT: chunk of another step' }, 3000);
    expect(r.phase).toBe(ExperimentPhase.Failed);
    expect(r.error).toContain('MessageRejectedError: INVALID_ARGUMENT: chunk of another step');
    expect(r.seconds).toBeLessThan(2);
  });

  it('that names no suspect, with a member gone meanwhile, recovers without it (a new generation of the survivors)', async () => {
    const r = await runFailing({ error: 'worker w1: MessageRejectedError: INVALID_ARGUMENT: chunk of another step' }, 3000, { w1Gone: true, min: 1 });
    expect(r.phase).toBe(ExperimentPhase.Succeeded);
    expect(r).toMatchObject({ generation: 2, members: ['w0'] });
    expect(r.seconds).toBeLessThan(2);
  });

  it('in a run cancelled while the step ran ends the run as cancelled — not failed, not recovered', async () => {
    const r = await runFailing({ error: 'worker w1: WindowJobRefusedError: the experiment is cancelled' }, 3000, { w1Gone: true, min: 1, cancel: true });
    expect(r).toMatchObject({ phase: ExperimentPhase.Cancelled, status: 'cancelled', generation: 1 });
    expect(r.seconds).toBeLessThan(2);
  });

  it('that names a ring peer waits up to lossGraceMs for it to leave the cluster before ending the run', async () => {
    const r = await runFailing({ error: 'worker w1: ring peer w0 PeerDeadlineError: peer rank 0 at 127.0.0.1:1: ring stream failed', peer: 'w0' }, 1500);
    expect(r.phase).toBe(ExperimentPhase.Failed);
    expect(r.error).toContain('ring peer w0 PeerDeadlineError');
    expect(r.seconds).toBeGreaterThanOrEqual(1.5);
  });
});
