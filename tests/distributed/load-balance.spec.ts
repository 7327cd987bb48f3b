/**
 * DESIGN "Dynamic pulling gives load balance across unequal workers", with real
 * processes (a coordinator and workers started one by one, each with its own flags),
 * real Redis, BullMQ and the gRPC ring; windows per worker and step times are read
 * from the coordinator's per-step timings lines (--step-timings).
 *
 *   1. Two fast workers train alone; then a third, throttled to be ~6× slower per
 *      window (--throttle-ms = 5 × the fast workers' median window compute), joins
 *      them on the same spec. The slow worker takes clearly fewer windows than each
 *      fast one, and the mean step time stays close to the two fast workers'.
 *   2. A wasm worker and a cpu worker train one experiment together: both take
 *      windows, and the final checkpoint matches `unroll train` (≤ 1e-4).
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { StepTimings } from '@unroll/coordinator';
import { maxAbsDiffOfFiles, stepFile } from './support/checkpoints';
import { deleteKeys, freshPrefix, EXITED_OK, exitOf, REDIS_URL, runUnroll, startNode, type NodeProcess } from './support/processes';
import { tinySpec, tinyWorkspace } from './support/tiny-experiment';

type Timed = StepTimings & { experiment: string; step: number };

/** The per-step timings the coordinator printed for `experiment`, in step order. */
function timingsOf(log: string, experiment: string): Timed[] {
  const out: Timed[] = [];
  for (const m of log.matchAll(/^unroll-coordinator: (\S+): timings (\{.*\})$/gm)) if (m[1] === experiment) out.push(JSON.parse(m[2]) as Timed);
  return out.sort((a, b) => a.step - b.step);
}

function windowsPerWorker(timings: Timed[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const t of timings) for (const j of t.jobs) n.set(j.worker, (n.get(j.worker) ?? 0) + 1);
  return n;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];


describe('dynamic pulling across unequal workers (real processes)', () => {
  let dir: string;
  let dataRoot: string;
  // A fresh prefix per test: a process of one test still registered (a failure's SIGKILL) is never a member of the next one's ring.
  let prefix = '';
  const prefixes: string[] = [];
  const nodes: NodeProcess[] = [];
  const measured: string[] = [];

  const start = (kind: 'coordinator' | 'worker', args: string[]): NodeProcess => {
    const node = startNode(kind, ['--redis', REDIS_URL, '--prefix', prefix, ...args], { UNROLL_STEP_TIMINGS: '1' });
    nodes.push(node);
    return node;
  };
  const worker = (id: string, extra: string[] = []): NodeProcess => start('worker', ['--id', id, '--data-root', dataRoot, '--checkpoint-dir', path.join(dir, 'ckpt'), '--backend', 'cpu', ...extra]);

  async function train(specName: string, specYaml: string): Promise<string> {
    const file = path.join(dir, `${specName}.yaml`);
    writeFileSync(file, specYaml);
    const r = await runUnroll(['submit', file, '--follow', '--redis', REDIS_URL, '--prefix', prefix], 180_000);
    expect(exitOf(r, () => nodes.map((n) => n.log().slice(-1500)).join('\n---\n'))).toEqual(EXITED_OK);
    return r.stdout.trim();
  }

  beforeAll(() => {
    ({ dir, dataRoot } = tinyWorkspace('unroll-balance-'));
  });

  beforeEach(() => {
    prefix = freshPrefix('balance');
    prefixes.push(prefix);
  });

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const p of prefixes) await deleteKeys(p);
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`load balance:\n${measured.join('\n')}\n`);
  });

  it('a heavily throttled third worker takes clearly fewer windows, and the step time stays close to two fast workers alone', async () => {
    const STEPS = 10;
    // 12 window jobs per step (24 streams, 2 per job), each a few tens of ms on the cpu backend.
    const spec = (name: string, workers: number, steps = STEPS) =>
      tinySpec({ name, cell: 'lstm', hidden: 64, layers: 1, steps, every: steps, workers, tbptt: '{streams: 24, window: 20, stride: 20, microBatch: 2}' });
    const coordinator = start('coordinator', []);
    const fast = [worker('lb-fast-a'), worker('lb-fast-b')];
    await Promise.all([coordinator.ready, ...fast.map((w) => w.ready)]);

    // A warm-up run (fresh processes and compute threads run their first windows slower), then alternating runs —
    // alone, with the slow one, alone, with the slow one — so that a load that comes and goes on the machine (other
    // test suites) weighs on both sides alike; step times are compared by their medians, which a burst moves less.
    await train('warm-up', spec('warm-up', 2, 4));
    const alone: Timed[][] = [];
    const withSlow: Timed[][] = [];
    let throttleMs = 0;
    let computeMs = 0;
    for (let round = 0; round < 2; round++) {
      const aloneId = await train(`two-fast-${round}`, spec(`two-fast-${round}`, 2));
      const a = timingsOf(coordinator.log(), aloneId);
      expect(a).toHaveLength(STEPS);
      alone.push(a);
      if (round === 0) {
        computeMs = median(a.flatMap((t) => t.jobs.map((j) => j.computeSeconds * 1000)));
        throttleMs = Math.max(20, Math.round(5 * computeMs));
      }
      const slow = worker('lb-slow', ['--throttle-ms', String(throttleMs)]);
      await slow.ready;
      const withSlowId = await train(`with-slow-${round}`, spec(`with-slow-${round}`, 3));
      const b = timingsOf(coordinator.log(), withSlowId);
      expect(b).toHaveLength(STEPS);
      withSlow.push(b);
      // Only members take jobs of a generation (a non-member's attempt is refused and retried): the slow one leaves.
      expect(await slow.stop()).toBe(0);
    }
    const counts = windowsPerWorker(withSlow.flat());
    // Step 0 loads the experiment on every worker (data, network): left out of the means.
    const stepsOf = (runs: Timed[][]) => runs.flatMap((r) => r.slice(1));
    const medianAlone = median(stepsOf(alone).map((t) => t.wallSeconds));
    const medianWithSlow = median(stepsOf(withSlow).map((t) => t.wallSeconds));
    const perRun = (runs: Timed[][]) => runs.map((r) => `${(median(r.slice(1).map((t) => t.wallSeconds)) * 1000).toFixed(0)}`).join('/');
    measured.push(
      `  fast window compute median ${computeMs.toFixed(1)} ms; slow worker throttled +${throttleMs} ms per window`,
      `  windows over 2 × ${STEPS} steps × 12: ${[...counts].map(([w, n]) => `${w} ${n}`).join(', ')}`,
      `  median step (steps 1..${STEPS - 1} of each run): 2 fast alone ${(medianAlone * 1000).toFixed(0)} ms (${perRun(alone)}), 2 fast + slow ${(medianWithSlow * 1000).toFixed(0)} ms (${perRun(withSlow)}) (×${(medianWithSlow / medianAlone).toFixed(2)})`,
      `  overhead per step (mean): alone ${(mean(stepsOf(alone).map((t) => t.overheadSeconds)) * 1000).toFixed(0)} ms, with slow ${(mean(stepsOf(withSlow).map((t) => t.overheadSeconds)) * 1000).toFixed(0)} ms`,
    );
    const slowWindows = counts.get('lb-slow') ?? 0;
    const fastWindows = ['lb-fast-a', 'lb-fast-b'].map((id) => counts.get(id) ?? 0);
    expect(slowWindows + fastWindows[0] + fastWindows[1]).toBe(2 * 12 * STEPS);
    // Measured (2 cores, tfjs cpu; fast window 10–24 ms with the machine quiet or shared, throttle 5× that): per 20
    // steps, slow 20–29 windows vs fast 103–115 each (ratio ≤ 0.28). A static round-robin split would give it 80 (1.0).
    expect(slowWindows).toBeGreaterThan(0);
    for (const n of fastWindows) expect(slowWindows).toBeLessThanOrEqual(0.4 * n);
    // Measured median step, 2 fast alone vs with the slow one: ×0.98–1.03 on a quiet machine; ×1.03–1.77 while another
    // engineer's test suites shared the 2 cores (the throttle is calibrated once, the contention comes and goes). The
    // slow device takes about one window per step, which ends about when the fast ones drain the queue. The bound, 2×,
    // leaves room for that noise and still separates dynamic pulling from a static split, where the slow worker's 4
    // windows of 6× the fast time would make each step ~4× longer. (A throttle far above the two-fast step time makes
    // every step wait for it: dynamic pulling balances windows, not the latency of the last one.)
    expect(medianWithSlow).toBeLessThanOrEqual(2 * medianAlone);
  }, 300_000);

  it('a wasm worker and a cpu worker train one experiment together: both take windows, and the result matches unroll train (≤ 1e-4)', async () => {
    const STEPS = 20;
    const specYaml = tinySpec({ name: 'mixed', cell: 'lstm', hidden: 24, layers: 2, steps: STEPS, every: STEPS, workers: 2, tbptt: '{streams: 8, window: 8, stride: 6, microBatch: 2}' });
    const reference = path.join(dir, 'single', 'mixed');
    writeFileSync(path.join(dir, 'mixed-single.yaml'), specYaml);
    const single = runUnroll(['train', path.join(dir, 'mixed-single.yaml'), '--data-root', dataRoot, '--out', reference, '--backend', 'cpu', '--json']);

    const coordinator = start('coordinator', []);
    const workers = [worker('mix-a-cpu'), start('worker', ['--id', 'mix-b-wasm', '--data-root', dataRoot, '--checkpoint-dir', path.join(dir, 'ckpt'), '--backend', 'wasm'])];
    const ready = await Promise.all([coordinator.ready, ...workers.map((w) => w.ready)]);
    expect(ready[2]).toMatch(/backend wasm/);
    expect(ready[1]).toMatch(/backend cpu/);
    expect((await single).code).toBe(0);

    const id = await train('mixed', specYaml);
    const timings = timingsOf(coordinator.log(), id);
    expect(timings).toHaveLength(STEPS);
    const counts = windowsPerWorker(timings);
    expect([...counts.keys()].sort()).toEqual(['mix-a-cpu', 'mix-b-wasm']);
    const model = maxAbsDiffOfFiles(stepFile(reference, STEPS), stepFile(path.join(dir, 'ckpt', 'mixed'), STEPS));
    const state = maxAbsDiffOfFiles(stepFile(reference, STEPS, true), stepFile(path.join(dir, 'ckpt', 'mixed'), STEPS, true));
    measured.push(`  wasm + cpu, ${STEPS} steps: windows ${[...counts].map(([w, n]) => `${w} ${n}`).join(', ')}; max |Δ| vs unroll train: model ${model.toExponential(2)}, state ${state.toExponential(2)}`);
    expect(model).toBeLessThanOrEqual(1e-4);
    expect(state).toBeLessThanOrEqual(1e-4);
  }, 300_000);
});
