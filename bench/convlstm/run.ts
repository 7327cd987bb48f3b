/**
 * ConvLSTM: ms per training step (forward, loss, backward, every gradient read back to
 * the host) at B=8, T=10, 64×64×1 frames, 16 filters, 3×3 kernel, one layer, next-frame
 * MSE through a 1×1 convolution, on the same shapes and loss in every row:
 *
 *   fused-native  Unroll's fused ConvLSTM window op (conv-lstm-window.ts: one custom
 *                 gradient per layer and window, hand-written BPTT), products on the
 *                 native kernel's OpenBLAS sgemm (selectKernel 'native')
 *   fused-tfjs    the same op, products as tf.matMul on the tfjs backend (TfGemm)
 *   taped         Unroll's taped version (im2col + matMul tfjs ops that tfjs differentiates)
 *   layers        tfjs-layers' convLstm2d (tf.conv2d, returnSequences; no peepholes) and a
 *                 1×1 conv2d head. Built with recurrentInitializer 'glorotUniform': its
 *                 default orthogonal initializer fails on wasm (`rMat.flatten is not a
 *                 function`, as bench/step found for lstm). On wasm it then cannot train:
 *                 the row records the error (no Conv2DBackpropFilter kernel).
 *
 *   npx tsx bench/convlstm/run.ts [--iters 5] [--backends cpu,wasm]
 *                                 [--impls fused-native,fused-tfjs,taped,layers] [--cap 120]
 *
 * Every configuration runs in a child process of its own (this script with --child
 * backend:impl) (fresh backend and memory; an
 * exception lands in its row) and is killed after --cap seconds: one slow row cannot hold
 * up the table. The child reports each step as it finishes, so a capped row still shows
 * what was measured (the median of the timed steps, or the warm-up step's time alone).
 * Why: the first cpu run ended after the table header with no output. A backend's row was
 * printed only once ours (1 + 5 taped steps) and tfjs-layers' steps had all run, with no
 * limit, and one taped step on tfjs-backend-cpu took 572 s of wall time under load (its
 * warm-up, measured with --child cpu:taped): the row would have needed about an hour.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, selectBackend, selectKernel, convLstmStack, RecurrentNetwork, Rng, type BackendName, type ConvLstmStackOptions } from '@unroll/models';

const [B, T, S, F, K] = [8, 10, 64, 16, 3];
const IMPLS = ['fused-native', 'fused-tfjs', 'taped', 'layers'] as const;
type Impl = (typeof IMPLS)[number];

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const iters = Number(opt('iters', '5'));
/** Seconds per configuration, warm-up included. @defaultValue 120 — the ~2 minutes one row may take */
const capSeconds = Number(opt('cap', '120'));

/** One line a child prints per finished step, and a last one when it is done or fails. */
type ChildLine = { step: number; ms: number; cpuMs: number } | { done: true } | { error: string };
type StepLine = Extract<ChildLine, { step: number }>;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const frames = Float32Array.from({ length: T * B * S * S }, (_, i) => (Math.sin(i * 0.37) > 0.6 ? 1 : 0));

function unrollStep(impl: Exclude<Impl, 'layers'>): () => void {
  const convLstm = { frame: { height: S, width: S, channels: 1 }, filters: F, kernel: K };
  const net = new RecurrentNetwork({ cell: { kind: 'lstm' }, input: { kind: 'dense', size: S * S }, hidden: S * S * F, layers: 1, outputSize: S * S, convLstm }, new Rng(1));
  const run: ConvLstmStackOptions =
    impl === 'taped' ? { implementation: 'taped' } : { implementation: 'fused', kernel: selectKernel({ kernel: impl === 'fused-native' ? 'native' : 'tfjs', log: () => undefined }) };
  const target = tf.tensor2d(frames, [T * B * S * S, 1]);
  const state = net.zeroState(B).map((s) => ({ h: s.h, c: s.c ?? new Float32Array(s.h.length) }));
  return () => {
    const { value, grads } = tf.variableGrads(() => {
      const { top } = convLstmStack(convLstm, 1, (name) => net.param(name), tf.tensor3d(frames, [T, B, S * S]), state, run);
      const y = tf.add(tf.matMul(tf.reshape(top, [T * B * S * S, F]), net.param('decoder.weight'), false, true), net.param('decoder.bias'));
      return tf.mean(tf.square(tf.sub(y, target))) as tf.Scalar;
    }, [...net.params.values()]);
    for (const g of Object.values(grads)) g.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
}

function layersStep(): () => void {
  const layer = tfl.layers.convLstm2d({ filters: F, kernelSize: K, padding: 'same', returnSequences: true, recurrentInitializer: 'glorotUniform', inputShape: [T, S, S, 1] });
  const head = tfl.layers.conv2d({ filters: 1, kernelSize: 1 });
  const x = tf.tensor5d(frames, [B, T, S, S, 1]);
  const target = tf.tensor4d(frames, [B * T, S, S, 1]);
  // Built by a first apply on one stream: RNN.build leaves `built` unset, so a layer.build()
  // here would be repeated by apply and throw 'Duplicate weight name kernel'.
  tf.tidy(() => {
    head.apply(tf.reshape(layer.apply(tf.zeros([1, T, S, S, 1])) as tf.Tensor5D, [T, S, S, F]));
  });
  const vars = [...layer.trainableWeights, ...head.trainableWeights].map((w) => w.read() as tf.Variable);
  return () => {
    const { value, grads } = tf.variableGrads(() => {
      const h = layer.apply(x) as tf.Tensor5D;
      const y = head.apply(tf.reshape(h, [B * T, S, S, F])) as tf.Tensor4D;
      return tf.mean(tf.square(tf.sub(y, target))) as tf.Scalar;
    }, vars);
    for (const g of Object.values(grads)) g.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
}

/** The child: one configuration, one JSON line per step (step 0 is the warm-up). */
async function child(backend: BackendName, impl: Impl): Promise<void> {
  const say = (l: ChildLine) => console.log(JSON.stringify(l));
  try {
    await selectBackend(backend);
    const step = impl === 'layers' ? layersStep() : unrollStep(impl);
    for (let i = 0; i <= iters; i++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      step();
      const c = process.cpuUsage(c0);
      say({ step: i, ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 });
    }
    say({ done: true });
  } catch (e) {
    say({ error: (e instanceof Error ? e.message : String(e)).split('\n')[0] });
  }
}

/** Runs one configuration in a child process, killed after the cap; returns its two table cells (wall, CPU). */
function measure(backend: string, impl: Impl): [string, string] {
  const args = [...process.execArgv, process.argv[1], '--child', `${backend}:${impl}`, '--iters', String(iters)];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: capSeconds * 1000, killSignal: 'SIGKILL', maxBuffer: 1 << 24 });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as ChildLine);
  const steps = lines.filter((l): l is StepLine => 'step' in l);
  const failed = lines.find((l): l is { error: string } => 'error' in l);
  if (failed) return [`fails: \`${failed.error}\``, ''];
  const timed = steps.filter((s) => s.step > 0);
  const capped = !lines.some((l) => 'done' in l);
  if (capped && r.signal !== 'SIGKILL') {
    const why = r.stderr.trim().split('\n').filter(Boolean).pop() ?? `exit code ${r.status}`;
    return [`crashed: \`${why.slice(0, 120)}\``, ''];
  }
  const ms = (xs: StepLine[], key: 'ms' | 'cpuMs') => median(xs.map((x) => x[key])).toFixed(0);
  if (timed.length > 0) return [`${ms(timed, 'ms')}${capped ? ` (capped at ${capSeconds} s: median of ${timed.length} step${timed.length > 1 ? 's' : ''})` : ''}`, ms(timed, 'cpuMs')];
  if (steps.length > 0) return [`≥ ${steps[0].ms.toFixed(0)} (capped at ${capSeconds} s: warm-up step only)`, `≥ ${steps[0].cpuMs.toFixed(0)}`];
  return [`> ${capSeconds * 1000} (capped: no step finished in ${capSeconds} s)`, ''];
}

async function main(): Promise<void> {
  const childArg = opt('child', '');
  if (childArg) {
    const [backend, impl] = childArg.split(':') as [BackendName, Impl];
    await child(backend, impl);
    return;
  }
  const backends = opt('backends', 'cpu,wasm').split(',');
  const impls = opt('impls', IMPLS.join(',')).split(',') as Impl[];
  const unknown = impls.filter((i) => !IMPLS.includes(i));
  if (unknown.length) throw new RangeError(`--impls expects some of ${IMPLS.join(', ')}, got ${unknown.join(', ')}`);
  console.log(
    `ConvLSTM training step, B=${B} T=${T} ${S}×${S}×1 frames, ${F} filters, ${K}×${K} kernel, 1 layer; median of ${iters} (after 1 warm-up), each configuration in its own process, capped at ${capSeconds} s; ${cpus().length} cores, load ${loadavg()[0].toFixed(1)}`,
  );
  console.log('| backend | implementation | ms/step | process CPU ms/step |');
  console.log('|---|---|---|---|');
  for (const b of backends) for (const impl of impls) console.log(`| ${b} | ${impl} | ${measure(b, impl).join(' | ')} |`);
  console.log(`load after: ${loadavg()[0].toFixed(1)}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
