/**
 * What OMP_WAIT_POLICY does to a worker's window compute: the bench shapes' LSTM
 * step (bench/cluster/step-overhead.ts: embedding 128, hidden 256, 128 classes,
 * window 35) for one micro-batch of 8 streams through Trainer.runStep, wasm backend,
 * window ops on the native kernel (OpenBLAS, an OpenMP build) — per configuration,
 * in a fresh process, since libgomp reads OMP_WAIT_POLICY once, when the addon loads.
 *
 *   npx tsx bench/cluster/openmp-wait.ts [--steps 40]
 *
 * Prints per configuration: BLAS threads, OMP_WAIT_POLICY, median wall ms a step and
 * the process's CPU ms a step. Spinning OpenMP threads show as CPU well above wall
 * × 1 and, when the cores are shared, as a longer wall.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Adam, TokenSequenceData, Trainer } from '@unroll/bptt';
import { batchify } from '@unroll/datasets';
import { RecurrentNetwork, Rng, selectBackend, selectKernel } from '@unroll/models';
import { machine } from './support';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '40' }, child: { type: 'string' } } });
const STEPS = Number(values.steps);
const [B, T, V, E, H] = [8, 35, 128, 128, 256];

async function child(threads: number): Promise<void> {
  await selectBackend('wasm');
  const kernel = selectKernel({ kernel: 'native', threads, log: () => undefined });
  const rng = new Rng(1);
  const net = new RecurrentNetwork({ cell: { kind: 'lstm' }, input: { kind: 'tokens', vocabSize: V, embedding: E }, hidden: H, layers: 1, outputSize: V }, rng, { kernel });
  const tokens = Int32Array.from({ length: B * ((STEPS + 4) * T + 1) }, () => Math.floor(rng.uniform(0, V)));
  const trainer = new Trainer({ net, data: new TokenSequenceData(batchify(tokens, B)), tbptt: { streams: B, window: T, stride: T, microBatch: B }, loss: 'cross-entropy', optimizer: new Adam({ lr: 1e-3 }) });
  for (let i = 0; i < 3; i++) trainer.runStep();
  const walls: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    trainer.runStep();
    walls.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  walls.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ wall: walls[STEPS >> 1], cpu: (cpu.user + cpu.system) / 1000 / STEPS }));
}

function main(): void {
  process.stdout.write(`${machine()}; ${STEPS} steps of one micro-batch (${B} streams × ${T}) each\n| BLAS threads | OMP_WAIT_POLICY | wall ms/step (median) | CPU ms/step |\n|---:|---|---:|---:|\n`);
  for (const [threads, policy] of [[2, ''], [2, 'PASSIVE'], [1, ''], [1, 'PASSIVE'], [2, ''], [2, 'PASSIVE']] as const) {
    const env = { ...process.env };
    delete env.OMP_WAIT_POLICY;
    if (policy) env.OMP_WAIT_POLICY = policy;
    const r = spawnSync(process.execPath, [...process.execArgv, __filename, '--child', String(threads), '--steps', String(STEPS)], { env, encoding: 'utf8' });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    const m = line.startsWith('{') ? (JSON.parse(line) as { wall: number; cpu: number }) : undefined;
    process.stdout.write(`| ${threads} | ${policy || '(unset: spin, then sleep)'} | ${m ? m.wall.toFixed(1) : `failed: ${r.stderr.slice(-300)}`} | ${m ? m.cpu.toFixed(1) : ''} |\n`);
  }
  process.stdout.write(`${machine()} at end\n`);
}

if (values.child !== undefined) void child(Number(values.child));
else main();
