/**
 * Checkpoint parity with PyTorch: a checkpoint written by the real `unroll train`
 * (plain cells, uni- and bidirectional; the LSTM variants have no PyTorch module)
 * loads into PyTorch's word_language_model RNNModel with load_state_dict(strict=True)
 * (tests/pytorch/rnn_model.py), and PyTorch's mean cross-entropy of a held-out text
 * equals `unroll eval --input` on the same checkpoint and text.
 *
 * Needs Debian's PyTorch for /usr/bin/python3 (`apt-get install python3-torch`);
 * without it these tests fail, they never skip.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const REPO = path.resolve(__dirname, '../..');
const UNROLL = path.join(REPO, 'node_modules/.bin/unroll');
const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'rnn_model.py');

/**
 * Relative tolerance between the two losses (float32 on both sides). Measured over
 * seeds 1–7 of the four unidirectional cases: at most 1.3e-8 (typically 1e-9–9e-9);
 * the bidirectional cases (seed 7): 3.2e-9 (2-layer LSTM) and 1.2e-8 (GRU). The brief's
 * bound was 1e-5, but that is too loose to catch a layout bug: swapping the LSTM's
 * i and f gate blocks in one weight_hh moves this loss by only ~2e-4, so keep the bound
 * near what float32 rounding explains.
 */
const REL_TOL = 1e-7;
const TEST_TIMEOUT_MS = 30_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', (e) => resolve({ code: null, stdout, stderr: stderr + String(e) }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function describeRun(what: string, r: Run): string {
  return `${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

let torchCheck: Promise<void> | undefined;
/** Fails (never skips) when /usr/bin/python3 cannot import torch. */
function requireTorch(): Promise<void> {
  torchCheck ??= run(PYTHON, ['-c', 'import torch']).then((r) => {
    if (r.code !== 0) {
      throw new Error(`${PYTHON} cannot import torch — install Debian's PyTorch: apt-get install python3-torch\n${describeRun(`${PYTHON} -c "import torch"`, r)}`);
    }
  });
  return torchCheck;
}

/** A deterministic corpus: words from a small list in an LCG-driven order, line broken. */
function corpus(seed: number, words: number): string {
  const vocab = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'dog', 'ran', 'far', 'and', 'then', 'stopped.', 'rain', 'fell', 'softly,'];
  let s = seed >>> 0;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(vocab[s % vocab.length]);
    if (i % 12 === 11) out.push('\n');
  }
  return out.join(' ').replace(/ \n /g, '\n');
}

interface Case {
  name: string;
  model: string;
  pyCell: 'lstm' | 'gru' | 'rnn_tanh' | 'rnn_relu';
  layers: number;
  /** nn.LSTM/GRU/RNN(bidirectional=True): windows are independent sequences on both sides. */
  bidirectional?: boolean;
}

const EMBEDDING = 8;
const HIDDEN = 16;
const WINDOW = 16;

const CASES: Case[] = [
  { name: 'lstm-2', model: `{cell: lstm, embedding: ${EMBEDDING}, hidden: ${HIDDEN}, layers: 2}`, pyCell: 'lstm', layers: 2 },
  { name: 'gru-reset-after', model: `{cell: gru, gruVariant: reset-after, embedding: ${EMBEDDING}, hidden: ${HIDDEN}, layers: 1}`, pyCell: 'gru', layers: 1 },
  { name: 'rnn-tanh', model: `{cell: rnn, activation: tanh, embedding: ${EMBEDDING}, hidden: ${HIDDEN}, layers: 1}`, pyCell: 'rnn_tanh', layers: 1 },
  { name: 'rnn-relu', model: `{cell: rnn, activation: relu, embedding: ${EMBEDDING}, hidden: ${HIDDEN}, layers: 1}`, pyCell: 'rnn_relu', layers: 1 },
  { name: 'lstm-2-bidirectional', model: `{cell: lstm, embedding: ${EMBEDDING}, hidden: ${HIDDEN}, layers: 2, bidirectional: true}`, pyCell: 'lstm', layers: 2, bidirectional: true },
  { name: 'gru-bidirectional', model: `{cell: gru, embedding: ${EMBEDDING}, hidden: ${HIDDEN}, layers: 1, bidirectional: true}`, pyCell: 'gru', layers: 1, bidirectional: true },
];

function specYaml(c: Case): string {
  return [
    'apiVersion: unroll/v1',
    'kind: Experiment',
    'metadata:',
    `  name: parity-${c.name}`,
    'spec:',
    '  seed: 7',
    '  data: {dataset: text, path: corpus.txt, validationFraction: 0.1}',
    `  model: ${c.model}`,
    `  tbptt: {streams: 4, window: ${WINDOW}, stride: ${WINDOW}, microBatch: 4${c.bidirectional ? ', independentWindows: true' : ''}}`,
    '  loss: cross-entropy',
    // A large step so 5 steps move the weights well away from their initialisation.
    '  optimizer: {name: adam, lr: 0.02}',
    '  steps: 5',
    '  checkpoint: {every: 5, keep: 1}',
    '',
  ].join('\n');
}

let root: string;
let dataRoot: string;
const HELDOUT = 'heldout.txt';

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'unroll-pytorch-parity-'));
  dataRoot = path.join(root, 'data');
  mkdirSync(dataRoot);
  writeFileSync(path.join(dataRoot, 'corpus.txt'), corpus(1, 900));
  // Held out: other word order, plus characters the corpus never had (→ U+FFFD),
  // one outside the BMP so both sides must count code points, not UTF-16 units.
  // 300-odd tokens: many windows with the state carried, the last one partial.
  writeFileSync(path.join(dataRoot, HELDOUT), `${corpus(99, 55)}\nZebra café 🐈 — the end.\n`);
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

async function train(c: Case): Promise<{ spec: string; checkpoint: string }> {
  const dir = path.join(root, c.name);
  mkdirSync(dir);
  const spec = path.join(dir, 'spec.yaml');
  writeFileSync(spec, specYaml(c));
  const out = path.join(dir, 'ckpt');
  const r = await run(UNROLL, ['train', spec, '--out', out, '--steps', '5', '--backend', 'cpu', '--data-root', dataRoot, '--json']);
  if (r.code !== 0) throw new Error(describeRun('unroll train', r));
  const checkpoint = path.join(out, 'step-00000005.safetensors');
  expect((JSON.parse(r.stdout) as { checkpoint: string }).checkpoint).toBe(checkpoint);
  return { spec, checkpoint };
}

function unrollEval(spec: string, checkpoint: string): Promise<Run> {
  return run(UNROLL, ['eval', spec, '--checkpoint', checkpoint, '--input', HELDOUT, '--data-root', dataRoot, '--backend', 'cpu', '--json']);
}

function pytorchScore(c: Case, checkpoint: string): Promise<Run> {
  const bidirectional = c.bidirectional ? ['--bidirectional', '--window', String(WINDOW)] : [];
  return run(PYTHON, [SCRIPT, checkpoint, path.join(dataRoot, HELDOUT), '--cell', c.pyCell, '--embedding', String(EMBEDDING), '--hidden', String(HIDDEN), '--layers', String(c.layers), ...bidirectional]);
}

interface Score {
  loss: number;
  tokens: number;
}

describe('unroll checkpoints in PyTorch word_language_model RNNModel', () => {
  test('/usr/bin/python3 imports torch', async () => {
    await requireTorch();
  });

  test.each(CASES)(
    '$name: load_state_dict(strict=True) succeeds and the held-out loss matches unroll eval --input',
    async (c) => {
      await requireTorch();
      const { spec, checkpoint } = await train(c);
      const [u, p] = await Promise.all([unrollEval(spec, checkpoint), pytorchScore(c, checkpoint)]);
      if (u.code !== 0) throw new Error(describeRun('unroll eval', u));
      if (p.code !== 0) throw new Error(describeRun('rnn_model.py', p));
      const ours = JSON.parse(u.stdout) as Score;
      const torch = JSON.parse(p.stdout) as Score;
      const heldout = [...readFileSync(path.join(dataRoot, HELDOUT), 'utf8')].length;
      expect(ours.tokens).toBe(heldout - 1);
      expect(torch.tokens).toBe(ours.tokens);
      expect(Number.isFinite(ours.loss)).toBe(true);
      const rel = Math.abs(ours.loss - torch.loss) / Math.abs(torch.loss);
      const measured = `${c.name}: unroll eval ${ours.loss}, PyTorch ${torch.loss}, relative difference ${rel.toExponential(2)}`;
      if (process.env.UNROLL_PARITY_REPORT) process.stderr.write(`${measured}\n`);
      if (!(rel <= REL_TOL)) throw new Error(`${measured} exceeds ${REL_TOL}`);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    'a renamed tensor fails PyTorch strict loading and unroll eval, both naming it',
    async () => {
      await requireTorch();
      const c = CASES[2];
      const { spec, checkpoint } = await train({ ...c, name: `${c.name}-renamed` });
      const renamed = path.join(path.dirname(checkpoint), 'renamed.safetensors');
      writeFileSync(renamed, renameTensor(readFileSync(checkpoint), 'rnn.weight_hh_l0', 'rnn.weight_hh_0'));

      const p = await pytorchScore(c, renamed);
      expect(p.code).toBe(3);
      expect(p.stderr).toContain('load_state_dict(strict=True) failed');
      expect(p.stderr).toMatch(/Missing key\(s\) in state_dict: "rnn\.weight_hh_l0"/);
      expect(p.stderr).toMatch(/Unexpected key\(s\) in state_dict: "rnn\.weight_hh_0"/);

      const u = await unrollEval(spec, renamed);
      expect(u.code).not.toBe(0);
      expect(u.code).not.toBeNull();
      expect(u.stdout).toBe('');
      expect(u.stderr).toContain('missing rnn.weight_hh_l0');
      expect(u.stderr).toContain('unexpected rnn.weight_hh_0');
    },
    TEST_TIMEOUT_MS,
  );
});

/**
 * A safetensors file image with one tensor key renamed: the JSON header is rewritten
 * (same entry order, padded with spaces to a multiple of 8) and the byte buffer kept
 * as is, so `__metadata__` checksums of the buffer stay valid.
 */
function renameTensor(file: Buffer, from: string, to: string): Buffer {
  const n = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  if (!Object.hasOwn(header, from)) throw new Error(`no tensor ${from} in the header`);
  const rewritten: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(header)) rewritten[k === from ? to : k] = v;
  let json = Buffer.from(JSON.stringify(rewritten), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, file.subarray(8 + n)]);
}
