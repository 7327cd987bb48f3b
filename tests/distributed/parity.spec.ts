/**
 * DESIGN invariant 1 across real processes: the global batch of step s depends on
 * the spec and s alone, so training with 1, 2 or 3 workers (real coordinator and
 * worker processes started by `unroll up`, real Redis and BullMQ, the gRPC ring)
 * ends with the checkpoint `unroll train` writes in one process — every tensor of
 * the model and of the training state (optimizer slots, stream states) within
 * 1e-4, up to float summation order.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkpointDiff, stepFile } from './support/checkpoints';
import { deleteKeys, freshPrefix, EXITED_OK, exitOf, REDIS_URL, runUnroll, startUp, type UpProcess } from './support/processes';
import { tinySpec, tinyWorkspace } from './support/tiny-experiment';

const STEPS = 30;
const SPECS = {
  // Two LSTM layers, k1 < k2 (scored rows start at k2 − k1), Adam, clipping.
  lstm: (workers: number) =>
    tinySpec({ name: 'parity-lstm', cell: 'lstm', hidden: 24, layers: 2, steps: STEPS, every: 10, workers, tbptt: '{streams: 6, window: 8, stride: 6, microBatch: 2}', clipNorm: 0.5 }),
  // GRU (reset-after), SGD with momentum, four micro-batches.
  gru: (workers: number) =>
    tinySpec({ name: 'parity-gru', cell: 'gru', hidden: 16, layers: 1, steps: STEPS, every: 15, workers, tbptt: '{streams: 8, window: 7, stride: 7, microBatch: 2}', optimizer: '{name: sgd, lr: 0.5, momentum: 0.9}' }),
};
type Cell = keyof typeof SPECS;

/** Every tensor within `max` of the other file's (same names and shapes), and the run's identity, cursor, counters, optimizer and RNG metadata equal. */
function maxAbsDiffOfFiles(a: string, b: string): { max: number; tensors: number } {
  const { max, tensors, metadata: [x, y] } = checkpointDiff(a, b, { shapes: true });
  for (const key of ['vocab', 'unroll.model', 'unroll.identity', 'unroll.cursor', 'unroll.counters', 'unroll.optimizer', 'unroll.rng']) expect(y[key]).toEqual(x[key]);
  return { max, tensors };
}

describe('invariant 1: 1, 2 and 3 workers train what one process trains', () => {
  let dir: string;
  let dataRoot: string;
  const prefixes: string[] = [];
  let up: UpProcess | undefined;
  const measured: string[] = [];

  beforeAll(async () => {
    ({ dir, dataRoot } = tinyWorkspace('unroll-parity-'));
    await Promise.all(
      (Object.keys(SPECS) as Cell[]).map(async (cell) => {
        writeFileSync(path.join(dir, `${cell}-1.yaml`), SPECS[cell](1));
        const r = await runUnroll(['train', path.join(dir, `${cell}-1.yaml`), '--data-root', dataRoot, '--out', path.join(dir, 'single', cell), '--backend', 'cpu', '--json']);
        expect(r.stderr.slice(-2000)).not.toMatch(/Error/);
        expect(r.code).toBe(0);
      }),
    );
  }, 120_000);

  afterEach(async () => {
    await up?.stop();
    up = undefined;
  });

  afterAll(async () => {
    for (const prefix of prefixes) await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`parity (max |Δ| over every tensor vs unroll train, ${STEPS} steps):\n${measured.join('\n')}\n`);
  });

  it.each([1, 2, 3])('%i worker(s): final checkpoints of an LSTM and a GRU spec match unroll train within 1e-4', async (workers) => {
    const prefix = freshPrefix(`parity${workers}`);
    prefixes.push(prefix);
    const ckpt = path.join(dir, `cluster-${workers}`);
    up = startUp(['--workers', String(workers), '--redis', REDIS_URL, '--prefix', prefix, '--data-root', dataRoot, '--checkpoint-dir', ckpt, '--backend', 'cpu']);
    const pids = await up.ready;
    expect(pids).toHaveLength(workers + 1);

    for (const cell of Object.keys(SPECS) as Cell[]) {
      const specFile = path.join(dir, `${cell}-${workers}.yaml`);
      writeFileSync(specFile, SPECS[cell](workers));
      const t0 = Date.now();
      const r = await runUnroll(['submit', specFile, '--follow', '--redis', REDIS_URL, '--prefix', prefix]);
      expect(exitOf(r)).toEqual(EXITED_OK);
      expect(r.stderr).toMatch(new RegExp(`step ${STEPS}/${STEPS}  loss \\d`));
      expect(r.stdout.trim()).toMatch(new RegExp(`^parity-${cell}-`));
      const seconds = (Date.now() - t0) / 1000;

      const name = `parity-${cell}`;
      const single = path.join(dir, 'single', cell);
      const cluster = path.join(ckpt, name);
      const model = maxAbsDiffOfFiles(stepFile(single, STEPS), stepFile(cluster, STEPS));
      const state = maxAbsDiffOfFiles(stepFile(single, STEPS, true), stepFile(cluster, STEPS, true));
      measured.push(`  ${cell} × ${workers} worker(s): model ${model.max.toExponential(2)} (${model.tensors} tensors), state ${state.max.toExponential(2)} (${state.tensors} tensors); submit→done ${seconds.toFixed(1)} s`);
      expect(model.max).toBeLessThanOrEqual(1e-4);
      expect(state.max).toBeLessThanOrEqual(1e-4);
      // The checkpoint before the last (keep: 2), written by rank 0 when reducing the step after it.
      const earlier = STEPS - (cell === 'lstm' ? 10 : 15);
      expect(maxAbsDiffOfFiles(stepFile(single, earlier), stepFile(cluster, earlier)).max).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiffOfFiles(stepFile(single, earlier, true), stepFile(cluster, earlier, true)).max).toBeLessThanOrEqual(1e-4);
    }
    expect(up.log()).toMatch(/succeeded/);
    // Which workers computed: the coordinator logs the workers of every step's jobs.
    const computed = new Set([...up.log().matchAll(/ on ([^ ]+) reduce/g)].flatMap((m) => m[1].split(',')));
    measured.push(`  ${workers} worker(s): window jobs ran on ${computed.size} distinct worker(s)`);
    if (workers > 1) expect(computed.size).toBeGreaterThan(1);
    const code = await up.stop();
    expect(code).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 120_000);
});
