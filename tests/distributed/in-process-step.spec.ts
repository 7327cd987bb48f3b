/**
 * The step protocol end to end in one process (in-memory stores, bus, queue and
 * collective): the coordinator's runner and 1 or 3 WorkerNodes train a spec for 3
 * steps, and every member ends with the parameters Trainer.runStep computes in one
 * process (DESIGN invariant 1), and the checkpoint `unroll train` would write.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { buildNetwork, buildOptimizer, loadExperimentData, lossKind, tbpttConfig, Trainer, type NamedArrays } from '@unroll/bptt';
import { CheckpointStore } from '@unroll/checkpoint';
import { Rng, selectBackend, tf } from '@unroll/models';
import { parseSpec } from '@unroll/spec';
import { ExperimentPhase } from '@unroll/coordinator';
import { InProcessCluster } from './support/in-process-cluster';
import { tinySpec, tinyWorkspace } from './support/tiny-experiment';

function maxAbsDiff(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>): number {
  let m = 0;
  for (const [name, x] of a) {
    const y = b.get(name) as Float32Array;
    expect(y).toBeDefined();
    expect(y.length).toBe(x.length);
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return m;
}

function reference(specYaml: string, dataRoot: string, steps: number): { params: NamedArrays; trainer: Trainer } {
  const spec = parseSpec(specYaml);
  const data = loadExperimentData(spec, dataRoot);
  const net = buildNetwork(spec, data, new Rng(spec.spec.seed));
  const trainer = new Trainer({ net, data: data.train, tbptt: tbpttConfig(spec), loss: lossKind(spec), optimizer: buildOptimizer(spec), clipNorm: spec.spec.clipNorm ?? undefined });
  for (let s = 0; s < steps; s++) trainer.runStep();
  net.dispose();
  return { params: trainer.params, trainer };
}

describe('one training step across an in-process cluster', () => {
  let dir: string;
  let dataRoot: string;

  beforeAll(async () => {
    await selectBackend('cpu');
  });

  beforeEach(() => {
    ({ dir, dataRoot } = tinyWorkspace('unroll-inproc-'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [1, 3, '{streams: 6, window: 6, stride: 4, microBatch: 2}', ''],
    [3, 3, '{streams: 6, window: 6, stride: 4, microBatch: 2}', ''],
    // 2 micro-batches for 3 members: one member runs no job and contributes zeros.
    [3, 2, '{streams: 4, window: 6, stride: 4, microBatch: 2}', ''],
    // Exactly once: every job also runs on a second member (a lock taken over), which keeps its gradient; counted twice, parity would break.
    [3, 3, '{streams: 6, window: 6, stride: 4, microBatch: 2}', ', every job run twice'],
  ])('%i member(s), %i micro-batches, tbptt %s%s: parameters after 3 steps equal Trainer.runStep (≤ 1e-5) on every member, and the checkpoint matches', async (n, jobs, tbptt, twice) => {
    const specYaml = tinySpec({ workers: n, steps: 3, every: 2, tbptt });
    const ran: string[][] = [];
    const cluster = new InProcessCluster({ workers: n, dataRoot, checkpointDir: path.join(dir, 'ckpt'), duplicateJobs: twice !== '', runner: { onStep: (_id, outcome) => ran.push(outcome.workers) } });
    const tensorsBefore = tf.memory().numTensors;
    await cluster.start();
    try {
      const id = await cluster.create(specYaml);
      const phase = await cluster.runner.run(id);
      const record = await cluster.experiments.get(id);
      expect(record?.error).toBeUndefined();
      expect(phase).toBe(ExperimentPhase.Succeeded);
      expect(record).toMatchObject({ status: 'succeeded', step: 3, generation: 1, members: cluster.workers.map((w) => w.id) });
      expect(ran).toHaveLength(3);
      if (twice) expect(cluster.duplicated).toBe(3 * jobs);
      for (const workers of ran) expect(workers).toHaveLength(jobs);
      // The queue spread the jobs: with 3 members, more than one computed.
      if (n > 1) expect(new Set(ran.flat()).size).toBeGreaterThan(1);
      // With fewer jobs than members, some member of every step ran none (and reduced zeros).
      if (jobs < n) for (const workers of ran) expect(new Set(workers).size).toBeLessThan(n);

      const ref = reference(specYaml, dataRoot, 3);
      for (const w of cluster.workers) {
        const session = (await w.experiment(id)).session;
        expect(session.version).toBe(3);
        expect(maxAbsDiff(ref.params, session.params)).toBeLessThanOrEqual(1e-5);
        // The network computes with the committed parameters.
        expect(maxAbsDiff(ref.params, session.net.snapshot())).toBeLessThanOrEqual(1e-5);
      }
      // The final checkpoint (rank 0), and the one at step 2, in unroll train's format.
      const store = new CheckpointStore(path.join(dir, 'ckpt', 'tiny'));
      expect((await store.list()).map((e) => e.step)).toEqual([2, 3]);
      const latest = await store.load((await store.latest())?.modelPath as string);
      for (const [name, a] of ref.params) expect(maxAbsDiff(new Map([[name, a]]), new Map([[name, latest.model.tensors[name].data as Float32Array]]))).toBeLessThanOrEqual(1e-5);
      const streams = ref.trainer.streamStates();
      expect(maxAbsDiff(new Map([['h', streams[0].h]]), new Map([['h', latest.state.tensors['streams.h_l0'].data as Float32Array]]))).toBeLessThanOrEqual(1e-5);
      expect(JSON.parse(latest.state.metadata['unroll.cursor'])).toEqual({ step: 3, epoch: 0, window: 3 });
      // Every hidden state is gone once the experiment succeeded.
      expect(await cluster.states.deleteAll(id)).toBe(0);
    } finally {
      await cluster.stop();
    }
    // Every network, reference and workers', is disposed: nothing of the cluster leaks.
    expect(tf.memory().numTensors - tensorsBefore).toBe(0);
  }, 60_000);
});
