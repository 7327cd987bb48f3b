/**
 * DESIGN invariant 1 for the convolutional architectures (issue 3: every
 * architecture trains "through the same TBPTT engine, spec and CLI — and later
 * through the distributed runtime with no change"): a ConvLSTM
 * (examples/convlstm-moving-shapes.yaml) and the multi-head CNN + LSTM
 * (examples/sensors-multihead-cnn-lstm.yaml), each shrunk to a few ms per window,
 * trained by `unroll up --workers 2` + `unroll submit --follow` end with the
 * checkpoint `unroll train` writes in one process — every model and state tensor
 * within 1e-4.
 *
 *   convlstm  dense `sequence` data from a generated CSV (8×8 moving-shapes frames,
 *             written into the data root first, as the example says); the stored
 *             hidden state is h and C of every pixel and filter (Hh·Ww·F per stream);
 *             the run crosses an epoch (zero state again).
 *   sensors   the generated `sensors` episode dataset (no file), one CNN head per
 *             sensor before the LSTM; a series spans two windows, scored at its last
 *             step only, so every other step scores nothing.
 *
 * Measured 2026-11-26 (2-core machine, cpu backend, native kernel on both sides):
 * max |Δ| 0 for both, model and state — with two members the ring adds the two
 * micro-batch gradients once, a + b, the same float sum as the single process. About
 * 8 s a case.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { decodeSafetensors } from '@unroll/checkpoint';
import { movingShapesCsv } from '@unroll/datasets';
import { REPO_ROOT } from '../support/run-cli';
import { maxAbsDiffOfFiles, stepFile } from './support/checkpoints';
import { deleteKeys, freshPrefix, EXITED_OK, exitOf, REDIS_URL, runUnroll, startUp, type UpProcess } from './support/processes';
import { tinyWorkspace } from './support/tiny-experiment';

/** The ConvLSTM's video: 8×8 frames, one 3-pixel shape; 199 next-frame rows. */
const FRAMES = { frames: 200, size: 8, shapes: 1, shapeSize: 3, seed: 7 };
const CSV = 'moving-shapes-8.csv';

interface Case {
  example: string;
  name: string;
  steps: number;
  /** What replaces the example's fields (besides steps, checkpoint, workers, backend). */
  shrink: Record<string, unknown>;
}

const CASES: Record<'convlstm' | 'sensors', Case> = {
  // 179 training rows / 4 streams = 44 positions, 8 windows of 5 an epoch: 12 steps cross an epoch.
  convlstm: {
    example: 'examples/convlstm-moving-shapes.yaml',
    name: 'parity-convlstm',
    steps: 12,
    shrink: {
      data: { dataset: 'sequence', path: CSV, inputSize: FRAMES.size ** 2, outputSize: FRAMES.size ** 2, validationFraction: 0.1 },
      model: { cell: 'convlstm', frame: { height: FRAMES.size, width: FRAMES.size, channels: 1 }, filters: 2, kernel: 3, layers: 1 },
      tbptt: { streams: 4, window: 5, stride: 5, microBatch: 2 },
      eval: { every: 0 },
    },
  },
  // 6 steps a series, windows of 3: two windows a series, the second scores its last step; 13 steps end mid-series.
  sensors: {
    example: 'examples/sensors-multihead-cnn-lstm.yaml',
    name: 'parity-sensors',
    steps: 13,
    shrink: {
      data: { dataset: 'sensors', examples: 48, steps: 6, samples: 8, noise: 1.0, validationFraction: 0.1 },
      model: { cell: 'lstm', hidden: 6, cnn: { frame: { height: 1, width: 8, channels: 3 }, filters: [2], kernel: [1, 3], pool: [1, 2], heads: 3 } },
      tbptt: { streams: 4, window: 3, microBatch: 2 },
      eval: { every: 0 },
    },
  },
};
type Arch = keyof typeof CASES;

/** The example with the case's small sizes. */
function shrunkSpec(c: Case, workers: number): string {
  const doc = parse(readFileSync(path.join(REPO_ROOT, c.example), 'utf8')) as { metadata: { name: string }; spec: Record<string, unknown> };
  doc.metadata.name = c.name;
  Object.assign(doc.spec, c.shrink, {
    backend: 'cpu',
    steps: c.steps,
    checkpoint: { every: c.steps, keep: 1 },
    workers: { min: workers, max: workers },
  });
  return stringify(doc);
}

/** The model or state checkpoint of the last step, the cluster's vs unroll train's: max |Δ|; model description, cursor, counters and optimizer metadata equal. */
function maxAbsDiff(c: Case, single: string, cluster: string, state = false): number {
  const a = stepFile(single, c.steps, state);
  const b = stepFile(cluster, c.steps, state);
  const x = decodeSafetensors(readFileSync(a)).metadata;
  const y = decodeSafetensors(readFileSync(b)).metadata;
  for (const key of ['unroll.model', 'unroll.cursor', 'unroll.counters', 'unroll.optimizer']) expect(y[key]).toEqual(x[key]);
  return maxAbsDiffOfFiles(a, b);
}

/** max |x| over the tensors of a checkpoint file whose names start with `prefix`. */
function maxAbsOf(file: string, prefix: string): number {
  let max = 0;
  for (const [name, t] of Object.entries(decodeSafetensors(readFileSync(file)).tensors)) {
    if (name.startsWith(prefix)) for (const v of t.data as Float32Array) max = Math.max(max, Math.abs(v));
  }
  return max;
}

describe('invariant 1 for the convolutional architectures (ConvLSTM, multi-head CNN + LSTM)', () => {
  let dir: string;
  let dataRoot: string;
  const prefixes: string[] = [];
  let up: UpProcess | undefined;
  const measured: string[] = [];

  beforeAll(() => {
    ({ dir, dataRoot } = tinyWorkspace('unroll-arch-parity-'));
    writeFileSync(path.join(dataRoot, CSV), movingShapesCsv(FRAMES));
  });

  afterEach(async () => {
    await up?.stop();
    up = undefined;
  });

  afterAll(async () => {
    for (const prefix of prefixes) await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`architectures parity (2 workers vs unroll train, max |Δ|):\n${measured.join('\n')}\n`);
  });

  it.each(['convlstm', 'sensors'] as Arch[])('%s: 2 workers train what unroll train trains (≤ 1e-4)', async (arch) => {
    const c = CASES[arch];
    writeFileSync(path.join(dir, `${arch}-single.yaml`), shrunkSpec(c, 1));
    writeFileSync(path.join(dir, `${arch}-cluster.yaml`), shrunkSpec(c, 2));
    const prefix = freshPrefix(`arch-${arch}`);
    prefixes.push(prefix);
    const single = path.join(dir, 'single', arch);
    const ckpt = path.join(dir, 'cluster', arch);

    // The single-process run while the cluster starts.
    up = startUp(['--workers', '2', '--redis', REDIS_URL, '--prefix', prefix, '--data-root', dataRoot, '--checkpoint-dir', ckpt, '--backend', 'cpu']);
    const [train] = await Promise.all([runUnroll(['train', path.join(dir, `${arch}-single.yaml`), '--data-root', dataRoot, '--out', single, '--backend', 'cpu', '--json']), up.ready]);
    expect(exitOf(train)).toEqual(EXITED_OK);

    const r = await runUnroll(['submit', path.join(dir, `${arch}-cluster.yaml`), '--follow', '--redis', REDIS_URL, '--prefix', prefix], 90_000);
    expect(exitOf(r, () => up?.log() ?? '')).toEqual(EXITED_OK);
    expect(up.log()).toMatch(/succeeded/);
    // Both workers computed windows of one step (the coordinator names the workers of each step's jobs).
    expect(up.log()).toMatch(/step \d+\/\d+ .* on [\w-]+,[\w-]+ /);

    const model = maxAbsDiff(c, single, path.join(ckpt, c.name));
    const state = maxAbsDiff(c, single, path.join(ckpt, c.name), true);
    // The stream states compared are carried ones, not the zeros of an epoch's start.
    expect(maxAbsOf(stepFile(single, c.steps, true), 'streams.')).toBeGreaterThan(0);
    measured.push(`  ${arch} (${c.steps} steps): model ${model.toExponential(2)}, state ${state.toExponential(2)}`);
    expect(model).toBeLessThanOrEqual(1e-4);
    expect(state).toBeLessThanOrEqual(1e-4);
    expect(await up.stop()).toBe(0);
    up = undefined;
  }, 150_000);
});
