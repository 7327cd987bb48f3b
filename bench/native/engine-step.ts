/**
 * The foundation's step through the engine (Trainer.runStep: windowGradients under
 * tf.variableGrads, the head's linearCrossEntropy, host Adam, writeParams), with the
 * network on the native kernel vs the tfjs path, per tfjs backend.
 *
 *   npx tsx bench/native/engine-step.ts [--iters 20] [--threads 1]
 *
 * On the native kernel every product runs in OpenBLAS — the window's, and the head's
 * (forward logits, dH, dW through the kernel's Gemm: linear-head-on-gemm.ts) — and
 * the embedding lookup is a host copy; tfjs holds the parameters and runs the tape.
 * On the tfjs path every product runs on the tfjs backend. Compare with the
 * all-native step (native-step.ts) for what the engine's tfjs plumbing still costs.
 */
import { cpus, loadavg } from 'node:os';
import { tf, selectBackend, selectKernel, RecurrentNetwork, Rng, type CellConfig, type WindowKernel } from '@unroll/models';
import { Adam, TokenSequenceData, Trainer } from '@unroll/bptt';
import { batchify } from '@unroll/datasets';

const [B, T, V, E, H] = [32, 35, 128, 128, 256];
const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const iters = Number(opt('iters', '20'));
const threads = Number(opt('threads', '1'));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeEngine(cell: CellConfig, kernel: WindowKernel): number {
  const rng = new Rng(1);
  const net = new RecurrentNetwork({ cell, input: { kind: 'tokens', vocabSize: V, embedding: E }, hidden: H, layers: 1, outputSize: V }, rng, { kernel });
  const tokens = Int32Array.from({ length: B * ((iters + 4) * T + 1) }, () => Math.floor(rng.uniform(0, V)));
  const trainer = new Trainer({
    net,
    data: new TokenSequenceData(batchify(tokens, B)),
    tbptt: { streams: B, window: T, stride: T, microBatch: B },
    loss: 'cross-entropy',
    optimizer: new Adam({ lr: 1e-3 }),
  });
  for (let i = 0; i < 3; i++) trainer.runStep();
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    trainer.runStep();
    ts.push(performance.now() - t0);
  }
  net.dispose();
  return median(ts);
}

async function main(): Promise<void> {
  console.log(`machine: ${cpus().length}× ${cpus()[0].model}; load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const native = selectKernel({ kernel: 'native', threads });
  const tfjs = selectKernel({ kernel: 'tfjs' });
  console.log('| tfjs backend | cell | window kernel | ms/step |');
  console.log('|---|---|---|---|');
  for (const backend of ['wasm', 'cpu'] as const) {
    await selectBackend(backend);
    for (const cell of [{ kind: 'lstm' }, { kind: 'gru', variant: 'reset-after' }] as CellConfig[]) {
      for (const k of [native, tfjs]) {
        if (backend === 'cpu' && k === tfjs) continue; // the tfjs path on tfjs-backend-cpu: minutes per step
        console.log(`| ${backend} | ${cell.kind} | ${k.name} | ${timeEngine(cell, k).toFixed(1)} |`);
      }
    }
  }
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; tensors alive: ${tf.memory().numTensors}`);
}

void main();
