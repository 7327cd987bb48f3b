/**
 * One short, honest training run on the bundled State of the Union corpus.
 *
 * Threshold, measured 2026-11-26 on the 2-core development machine with
 * `npx unroll train tests/training/sotu-short.yaml --json` (wasm backend, seed 7,
 * 500 steps of 16 streams × 32 characters, LSTM 128): validation 2.46 bits/char.
 * The test requires < 2.6 bits/char — a margin for float summation differences on
 * other CPUs — and, as an independent floor, clearly below the validation text's
 * own unigram entropy (what a model that learned no context would reach).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CharVocab, loadTextCorpus, splitHoldout } from '@unroll/datasets';
import { runCli, REPO_ROOT } from '../support/run-cli';

const MEASURED_BPC = 2.46;
const THRESHOLD_BPC = 2.6;

function unigramEntropyBits(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  const n = [...text].length;
  for (const c of counts.values()) h -= (c / n) * Math.log2(c / n);
  return h;
}

describe('a short training run on the SOTU corpus', () => {
  let out: string;
  beforeAll(() => (out = mkdtempSync(path.join(tmpdir(), 'unroll-sotu-'))));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it(`reaches validation bits/char below ${THRESHOLD_BPC} (measured ${MEASURED_BPC})`, async () => {
    const r = await runCli(['train', path.join(REPO_ROOT, 'tests/training/sotu-short.yaml'), '--out', out, '--json'], { timeoutMs: 600000 });
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    const { validation } = splitHoldout(loadTextCorpus({ source: 'sotu' }, 300000), 0.05);
    expect(CharVocab.fromText(validation).size).toBeGreaterThan(30);
    const floor = unigramEntropyBits(validation);
    expect(floor).toBeGreaterThan(4);
    expect(summary.bitsPerToken).toBeLessThan(THRESHOLD_BPC);
    expect(summary.bitsPerToken).toBeLessThan(floor - 1.2);
  }, 600000);
});
