/**
 * The `unroll` command end to end, as a user runs it: real child processes, real
 * files in a fresh data root and output directory per test.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeSafetensors } from '@unroll/checkpoint';
import { runCli } from '../support/run-cli';

function tinySpec(extra: { steps?: number; every?: number; cell?: string } = {}): string {
  return `apiVersion: unroll/v1
kind: Experiment
metadata: {name: tiny}
spec:
  seed: 3
  backend: cpu
  data: {dataset: text, path: corpus.txt, validationFraction: 0.1}
  model: {cell: ${extra.cell ?? 'lstm'}, embedding: 8, hidden: 12, layers: 2}
  tbptt: {streams: 4, window: 6, stride: 4, microBatch: 2}
  loss: cross-entropy
  optimizer: {name: adam, lr: 0.01}
  clipNorm: 1.0
  steps: ${extra.steps ?? 6}
  checkpoint: {every: ${extra.every ?? 2}, keep: 2}
`;
}

const corpus = Array.from({ length: 120 }, (_, i) => `line ${i % 7}: the quick brown fox ${i % 3 ? 'jumps' : 'naps'}.\n`).join('');

describe('unroll train / eval', () => {
  let dir: string;
  let dataRoot: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'unroll-cli-'));
    dataRoot = path.join(dir, 'data');
    require('node:fs').mkdirSync(dataRoot);
    writeFileSync(path.join(dataRoot, 'corpus.txt'), corpus);
    writeFileSync(path.join(dir, 'tiny.yaml'), tinySpec());
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const train = (args: string[] = [], spec = 'tiny.yaml') => runCli(['train', path.join(dir, spec), '--data-root', dataRoot, '--out', path.join(dir, 'out'), ...args]);

  it('trains, keeps the last K checkpoints, and eval reports loss, tokens and bits per token', async () => {
    const r = await train(['--json']);
    expect(r.stderr).toMatch(/backend cpu/);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(summary.steps).toBe(6);
    expect(summary.checkpoint).toBe(path.join(dir, 'out', 'step-00000006.safetensors'));
    expect(readdirSync(path.join(dir, 'out')).sort()).toEqual(['step-00000004.safetensors', 'step-00000004.state.safetensors', 'step-00000006.safetensors', 'step-00000006.state.safetensors']);
    const model = decodeSafetensors(readFileSync(summary.checkpoint));
    expect(Object.keys(model.tensors).sort()).toEqual(['decoder.bias', 'decoder.weight', 'encoder.weight', 'rnn.bias_hh_l0', 'rnn.bias_hh_l1', 'rnn.bias_ih_l0', 'rnn.bias_ih_l1', 'rnn.weight_hh_l0', 'rnn.weight_hh_l1', 'rnn.weight_ih_l0', 'rnn.weight_ih_l1']);
    const vocab = JSON.parse(model.metadata.vocab) as string[];
    expect(vocab).toEqual(expect.arrayContaining(['q', 'x', '\n', '\uFFFD']));
    expect(model.tensors['encoder.weight'].shape).toEqual([vocab.length, 8]);
    expect(model.tensors['rnn.weight_ih_l0'].shape).toEqual([48, 8]);

    const e = await runCli(['eval', path.join(dir, 'tiny.yaml'), '--data-root', dataRoot, '--checkpoint', summary.checkpoint, '--json']);
    expect(e.code).toBe(0);
    const ev = JSON.parse(e.stdout);
    expect(ev.loss).toBeCloseTo(summary.loss, 6);
    expect(ev.bitsPerToken).toBeCloseTo(ev.loss / Math.LN2, 10);
    // The validation tail (10 % of the corpus) batchified into streams of whole positions.
    expect(ev.tokens).toBeGreaterThan(0.8 * 0.1 * corpus.length);
    expect(ev.tokens).toBeLessThan(0.1 * corpus.length);

    writeFileSync(path.join(dataRoot, 'probe.txt'), 'line 3: the quick brown fox naps.\n');
    const p = await runCli(['eval', path.join(dir, 'tiny.yaml'), '--data-root', dataRoot, '--checkpoint', summary.checkpoint, '--input', 'probe.txt', '--json']);
    expect(p.code).toBe(0);
    expect(JSON.parse(p.stdout).tokens).toBe('line 3: the quick brown fox naps.\n'.length - 1);
  }, 120000);

  it('resuming from a checkpoint gives the same parameters as training straight through', async () => {
    const straight = await runCli(['train', path.join(dir, 'tiny.yaml'), '--data-root', dataRoot, '--out', path.join(dir, 'straight'), '--json']);
    expect(straight.code).toBe(0);
    expect((await train(['--steps', '3'])).code).toBe(0);
    const resumed = await train(['--json']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/resuming from step 3/);
    const a = decodeSafetensors(readFileSync(path.join(dir, 'straight', 'step-00000006.safetensors')));
    const b = decodeSafetensors(readFileSync(path.join(dir, 'out', 'step-00000006.safetensors')));
    for (const name of Object.keys(a.tensors)) expect([name, Buffer.from(b.tensors[name].data.buffer).equals(Buffer.from(a.tensors[name].data.buffer))]).toEqual([name, true]);
  }, 120000);

  it('refuses to resume checkpoints of a different spec', async () => {
    expect((await train(['--steps', '2'])).code).toBe(0);
    writeFileSync(path.join(dir, 'other.yaml'), tinySpec({ cell: 'gru' }));
    const r = await train([], 'other.yaml');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/different experiment spec/);
  }, 60000);

  it('a bad spec exits 2 and names every bad field', async () => {
    writeFileSync(path.join(dir, 'bad.yaml'), tinySpec().replace('stride: 4', 'stride: 9').replace('lr: 0.01', 'lr: -1').replace('hidden: 12', 'hiden: 12'));
    const r = await train([], 'bad.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/spec\.tbptt\.stride: expected an integer between 1 and window \(6\), got 9/);
    expect(r.stderr).toMatch(/spec\.optimizer\.lr/);
    expect(r.stderr).toMatch(/hiden/);
    expect(readdirSync(dir)).not.toContain('out');
  });

  it('refuses data outside the data root with exit code 2', async () => {
    writeFileSync(path.join(dir, 'escape.yaml'), tinySpec().replace('path: corpus.txt', 'path: ../tiny.yaml'));
    const r = await train([], 'escape.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/spec\.data\.path/);
    const abs = await train([], 'tiny.yaml');
    expect(abs.code).toBe(0);
    const e = await runCli(['eval', path.join(dir, 'tiny.yaml'), '--data-root', dataRoot, '--checkpoint', path.join(dir, 'out', 'step-00000006.safetensors'), '--input', '/etc/passwd']);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/--input/);
  }, 120000);

  it('a truncated or corrupted checkpoint is refused with a clear error, never loaded', async () => {
    expect((await train(['--steps', '2'])).code).toBe(0);
    const ckpt = path.join(dir, 'out', 'step-00000002.safetensors');
    const evalIt = () => runCli(['eval', path.join(dir, 'tiny.yaml'), '--data-root', dataRoot, '--checkpoint', ckpt]);
    truncateSync(ckpt, statSync(ckpt).size - 10);
    const r = await evalIt();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/step-00000002\.safetensors/);
    expect(r.stderr).not.toMatch(/loss/);
    // A checkpoint of another model shape: every mismatched tensor is named.
    writeFileSync(path.join(dir, 'wide.yaml'), tinySpec().replace('hidden: 12', 'hidden: 16'));
    expect((await runCli(['train', path.join(dir, 'wide.yaml'), '--data-root', dataRoot, '--out', path.join(dir, 'wide'), '--steps', '1'])).code).toBe(0);
    const m = await runCli(['eval', path.join(dir, 'tiny.yaml'), '--data-root', dataRoot, '--checkpoint', path.join(dir, 'wide', 'step-00000001.safetensors')]);
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/rnn\.weight_hh_l0/);
  }, 120000);
});
