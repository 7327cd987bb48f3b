/**
 * DESIGN invariant 1 for an episode dataset (libs/bptt episode-data.ts: masks and
 * resets): examples/spam-many-to-one.yaml, shrunk to a few ms per window, trained by
 * `unroll up --workers 2` + `unroll submit --follow` ends with the checkpoint
 * `unroll train` writes in one process — every model and state tensor within 1e-4.
 *
 * Many-to-one scores a message's last step only, so most steps score nothing
 * (count 0): the cluster must commit them without an update, as Trainer.runStep
 * does, and not take them for the closing barrier (which hung the run before).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { decodeSafetensors } from '@unroll/checkpoint';
import { REPO_ROOT } from '../support/run-cli';
import { maxAbsDiffOfFiles, stepFile } from './support/checkpoints';
import { deleteKeys, freshPrefix, EXITED_OK, exitOf, REDIS_URL, runUnroll, startUp, type UpProcess } from './support/processes';
import { tinyWorkspace } from './support/tiny-experiment';

const STEPS = 16;

/** The example with small sizes: 60 characters a message, windows of 10 — 6 windows a message, the loss on the last one's last step. */
function episodeSpec(workers: number): string {
  const doc = parse(readFileSync(path.join(REPO_ROOT, 'examples/spam-many-to-one.yaml'), 'utf8')) as { metadata: { name: string }; spec: Record<string, unknown> };
  doc.metadata.name = 'parity-spam';
  Object.assign(doc.spec, {
    backend: 'cpu',
    data: { ...(doc.spec.data as object), maxChars: 60 },
    model: { cell: 'lstm', embedding: 6, hidden: 10 },
    tbptt: { streams: 4, window: 10, microBatch: 2 },
    steps: STEPS,
    checkpoint: { every: STEPS, keep: 1 },
    workers: { min: workers, max: workers },
  });
  return stringify(doc);
}

/** The model or state checkpoint of the last step, the cluster's vs unroll train's: max |Δ|; the counters, cursor and optimizer metadata equal. */
function maxAbsDiff(single: string, cluster: string, state = false): number {
  const a = stepFile(single, STEPS, state);
  const b = stepFile(cluster, STEPS, state);
  const x = decodeSafetensors(readFileSync(a)).metadata;
  const y = decodeSafetensors(readFileSync(b)).metadata;
  for (const key of ['unroll.cursor', 'unroll.counters', 'unroll.optimizer']) expect(y[key]).toEqual(x[key]);
  return maxAbsDiffOfFiles(a, b);
}

describe('invariant 1 with an episode dataset (many-to-one spam, steps that score nothing)', () => {
  const prefix = freshPrefix('episode');
  let dir: string;
  let dataRoot: string;
  let up: UpProcess | undefined;

  beforeAll(() => {
    ({ dir, dataRoot } = tinyWorkspace('unroll-episode-'));
  });

  afterAll(async () => {
    await up?.stop();
    await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('2 workers train what unroll train trains (≤ 1e-4), committing the unscored steps without an update', async () => {
    writeFileSync(path.join(dir, 'single.yaml'), episodeSpec(1));
    writeFileSync(path.join(dir, 'cluster.yaml'), episodeSpec(2));
    const single = path.join(dir, 'single');
    const train = await runUnroll(['train', path.join(dir, 'single.yaml'), '--data-root', dataRoot, '--out', single, '--backend', 'cpu', '--json']);
    expect(exitOf(train)).toEqual(EXITED_OK);

    const ckpt = path.join(dir, 'cluster');
    up = startUp(['--workers', '2', '--redis', REDIS_URL, '--prefix', prefix, '--data-root', dataRoot, '--checkpoint-dir', ckpt, '--backend', 'cpu']);
    await up.ready;
    const r = await runUnroll(['submit', path.join(dir, 'cluster.yaml'), '--follow', '--redis', REDIS_URL, '--prefix', prefix], 90_000);
    expect(exitOf(r)).toEqual(EXITED_OK);
    // Steps that scored nothing were committed (the coordinator logs each step with its loss; 0 when unscored).
    expect(up.log()).toMatch(/step 1\/16 loss 0\.0000 /);
    expect(up.log()).toMatch(/succeeded/);

    const model = maxAbsDiff(single, path.join(ckpt, 'parity-spam'));
    const state = maxAbsDiff(single, path.join(ckpt, 'parity-spam'), true);
    process.stdout.write(`episode parity (spam many-to-one, 2 workers, ${STEPS} steps): model ${model.toExponential(2)}, state ${state.toExponential(2)}\n`);
    expect(model).toBeLessThanOrEqual(1e-4);
    expect(state).toBeLessThanOrEqual(1e-4);
    expect(await up.stop()).toBe(0);
    up = undefined;
  }, 180_000);
});
