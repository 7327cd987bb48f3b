/**
 * Native kernels vs PyTorch, one run, same machine, same cores:
 *
 *   npx tsx bench/native/run.ts [--iters 30] [--threads 1,2] [--cells lstm,gru] [--no-torch]
 *
 * Problem (the foundation's step): B = 32 streams, T = 35 steps, token embedding
 * 128 → 128, one recurrent layer of 256, linear head to 128 classes, cross-entropy
 * on every step, Adam. Ours: native-step.ts (everything in libs/kernels-native).
 * PyTorch: torch_step.py under Debian's /usr/bin/python3, spawned after ours for
 * each thread count (never concurrently). Also measures the machine's sgemm rate
 * (1024³ through the same OpenBLAS) to put GFLOP/s in context.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import * as path from 'node:path';
import { loadNativeKernels, type NativeCell, type NativeKernels } from '@unroll/kernels-native';
import { NativeStep, stepFlops, type StepDims } from './native-step';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const iters = Number(opt('iters', '30'));
const threadList = opt('threads', '1,2').split(',').map(Number);
const cells = opt('cells', 'lstm,gru').split(',') as ('lstm' | 'gru')[];
const withTorch = !argv.includes('--no-torch');
const dims: StepDims = { B: 32, T: 35, V: 128, E: 128, H: 256 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function sgemmRate(k: NativeKernels): number {
  const n = 1024;
  const a = new Float32Array(n * n).fill(0.5);
  const c = new Float32Array(n * n);
  k.binding.sgemm(false, false, n, n, n, 1, a, n, a, n, 0, c, n);
  const ts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    k.binding.sgemm(false, false, n, n, n, 1, a, n, a, n, 0, c, n);
    ts.push(performance.now() - t0);
  }
  return (2 * n ** 3) / (median(ts) / 1e3) / 1e9;
}

function timeNative(k: NativeKernels, cell: NativeCell): { ms: number; loss0: number; lossN: number } {
  const step = new NativeStep(k, cell, dims);
  const N = dims.T * dims.B;
  let s = 7;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % dims.V);
  const batches = Array.from({ length: 8 }, () => [Int32Array.from({ length: N }, rand), Int32Array.from({ length: N }, rand)]);
  const loss0 = step.step(batches[0][0], batches[0][1]);
  for (let i = 1; i < 3; i++) step.step(batches[i % 8][0], batches[i % 8][1]);
  const ts: number[] = [];
  let lossN = loss0;
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    lossN = step.step(batches[i % 8][0], batches[i % 8][1]);
    ts.push(performance.now() - t0);
  }
  return { ms: median(ts), loss0, lossN };
}

interface TorchOut {
  torch: string;
  threads: number;
  results: Record<string, { median_ms: number }>;
  blas: string[];
  blas_info: string;
}

function runTorch(threads: number): TorchOut | string {
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'torch_step.py'), '--threads', String(threads), '--cells', cells.join(','), '--iters', String(iters)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) return `torch failed: ${(r.stderr || '').split('\n').slice(-3).join(' ')}`;
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as TorchOut;
}

function main(): void {
  const load = loadNativeKernels();
  if (!load.ok) {
    console.error(`native kernels unavailable: ${load.reason}`);
    process.exit(1);
  }
  const k = load.kernels;
  console.log(`# bench/native — ${new Date().toISOString()}`);
  console.log(`machine: ${cpus().length}× ${cpus()[0].model}; load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`native: ${load.detail}; ${k.info().blas}`);
  console.log(`problem: B=${dims.B} T=${dims.T} V=${dims.V} E=${dims.E} H=${dims.H}, Adam, median of ${iters} steps after 3 warm-up\n`);
  const rows: string[] = [];
  let torchBlas = '';
  for (const threads of threadList) {
    k.setThreads(threads);
    const rate = sgemmRate(k);
    const ours = cells.map((c) => ({ c, ...timeNative(k, c === 'gru' ? 'gru-reset-after' : 'lstm') }));
    const torch = withTorch ? runTorch(threads) : 'skipped';
    if (typeof torch !== 'string') torchBlas = `torch ${torch.torch}, BLAS_INFO=${torch.blas_info}, mapped: ${torch.blas.join(', ')}`;
    for (const o of ours) {
      const flops = stepFlops(o.c === 'gru' ? 'gru-reset-after' : 'lstm', dims);
      const tms = typeof torch === 'string' ? NaN : torch.results[o.c].median_ms;
      rows.push(
        `| ${o.c} | ${threads} | ${o.ms.toFixed(1)} | ${Number.isNaN(tms) ? torch : tms.toFixed(1)} | ${Number.isNaN(tms) ? '–' : (o.ms / tms).toFixed(2)} | ${(flops / (o.ms / 1e3) / 1e9).toFixed(1)} | ${rate.toFixed(1)} | ${o.loss0.toFixed(3)} → ${o.lossN.toFixed(3)} |`,
      );
    }
  }
  console.log('| cell | threads | unroll native ms/step | PyTorch ms/step | ratio | native GFLOP/s | sgemm 1024³ GFLOP/s | native loss (first → last) |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`\n${torchBlas}`);
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

main();
