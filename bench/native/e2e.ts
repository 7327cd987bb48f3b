/**
 * End-to-end training throughput: `unroll train` on the bundled character model
 * (examples/sotu-char-lstm.yaml: 2×LSTM 256, embedding 64, 32 streams × 35) with the
 * native kernel and with the tfjs path (wasm), beside PyTorch's word_language_model
 * loop on the same text (bench/native/torch_wlm.py), 1 and 2 threads, in one run.
 *
 *   npx tsx bench/native/e2e.ts [--steps 60]
 *
 * `unroll train` reports tokens/s over its whole run (startup excluded, the final
 * validation pass excluded); PyTorch's loop over its timed steps after a warm-up.
 * The native kernel runs twice: as `npx unroll train` runs (node's default, parallel
 * GC) and under `node --single-threaded-gc` (what `unroll up` gives workers on ≤ 2
 * cores: libs/cluster worker-threads.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTextCorpus, splitHoldout } from '@unroll/datasets';

const ROOT = path.resolve(__dirname, '../..');
const steps = Number(process.argv[process.argv.indexOf('--steps') + 1] ?? 60) || 60;

/** `unroll train` as `npx unroll train` runs it, or with node flags before the bin (`node --single-threaded-gc …/unroll.js train`). */
function unroll(kernel: string, threads: number, out: string, nodeFlags: string[] = []): number {
  const r = spawnSync(process.execPath, [...nodeFlags, path.join(ROOT, 'apps/cli/bin/unroll.js'), 'train', 'examples/sotu-char-lstm.yaml', '--steps', String(steps), '--out', out, '--json', '--kernel', kernel, '--threads', String(threads), '--backend', 'wasm'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`unroll train (${kernel}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string).tokensPerSecond as number;
}

function torch(text: string, threads: number): number {
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'torch_wlm.py'), '--text', text, '--threads', String(threads), '--steps', String(steps)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) throw new Error(`torch_wlm.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string).tokensPerSecond as number;
}

function main(): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'unroll-e2e-'));
  try {
    const text = path.join(dir, 'train.txt');
    writeFileSync(text, splitHoldout(loadTextCorpus({ source: 'sotu' }, 2_000_000), 0.05).train);
    console.log(`# e2e tokens/s, ${steps} steps, ${new Date().toISOString()}, nproc ${os.cpus().length}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log('| threads | unroll native | unroll native, node --single-threaded-gc | unroll tfjs (wasm) | PyTorch word_language_model | native / PyTorch | single-threaded GC / PyTorch |');
    console.log('|---|---|---|---|---|---|---|');
    for (const threads of [1, 2]) {
      const nat = unroll('native', threads, path.join(dir, `n${threads}`));
      const natGc = unroll('native', threads, path.join(dir, `g${threads}`), ['--single-threaded-gc']);
      const tfjs = threads === 1 ? unroll('tfjs', 1, path.join(dir, 'tfjs')) : NaN;
      const pt = torch(text, threads);
      console.log(`| ${threads} | ${Math.round(nat)} | ${Math.round(natGc)} | ${Number.isNaN(tfjs) ? '—' : Math.round(tfjs)} | ${Math.round(pt)} | ${(nat / pt).toFixed(2)}× | ${(natGc / pt).toFixed(2)}× |`);
    }
    console.log(`load after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
