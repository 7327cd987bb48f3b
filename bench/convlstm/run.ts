/**
 * ConvLSTM: ms per training step (forward, loss, backward, gradients on the host side
 * of tf.variableGrads) at B=8, T=10, 64×64×1 frames, 16 filters, 3×3 kernel, one
 * layer, next-frame MSE through a 1×1 convolution — Unroll's ConvLSTM (im2col + matMul,
 * libs/models conv/) beside tfjs-layers' convLstm2d (tf.conv2d, returnSequences) on the
 * same shapes, same loss, in the same run, per backend.
 *
 *   npx tsx bench/convlstm/run.ts [--iters 5] [--backends cpu,wasm]
 *
 * tfjs-layers' convLstm2d cannot train on wasm (no Conv2DBackpropFilter kernel): that row
 * records the failure instead of a time.
 */
import { cpus, loadavg } from 'node:os';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, selectBackend, RecurrentNetwork, Rng, type BackendName } from '@unroll/models';

const [B, T, S, F, K] = [8, 10, 64, 16, 3];
const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const iters = Number(opt('iters', '5'));
const backends = opt('backends', 'cpu,wasm').split(',') as BackendName[];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(step: () => void): number {
  step(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    step();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

const frames = Float32Array.from({ length: T * B * S * S }, (_, i) => (Math.sin(i * 0.37) > 0.6 ? 1 : 0));

function unrollStep(): () => void {
  const net = new RecurrentNetwork(
    { cell: { kind: 'lstm' }, input: { kind: 'dense', size: S * S }, hidden: S * S * F, layers: 1, outputSize: S * S, convLstm: { frame: { height: S, width: S, channels: 1 }, filters: F, kernel: K } },
    new Rng(1),
  );
  const target = tf.tensor2d(frames, [T * B * S * S, 1]);
  return () => {
    const { value, grads } = tf.variableGrads(() => {
      const out = net.forward({ kind: 'dense', x: frames, T, B }, net.zeroState(B));
      const y = tf.add(tf.matMul(tf.reshape(out.top, [T * B * S * S, F]), net.param('decoder.weight'), false, true), net.param('decoder.bias'));
      return tf.mean(tf.square(tf.sub(y, target))) as tf.Scalar;
    }, [...net.params.values()]);
    for (const g of Object.values(grads)) g.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
}

function layersStep(): () => void {
  const layer = tfl.layers.convLstm2d({ filters: F, kernelSize: K, padding: 'same', returnSequences: true, inputShape: [T, S, S, 1] });
  const head = tfl.layers.conv2d({ filters: 1, kernelSize: 1 });
  const x = tf.tensor5d(frames, [B, T, S, S, 1]);
  const target = tf.tensor4d(frames, [B * T, S, S, 1]);
  layer.build([B, T, S, S, 1]);
  head.build([B * T, S, S, F]);
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

async function main(): Promise<void> {
  console.log(`ConvLSTM training step, B=${B} T=${T} ${S}×${S}×1 frames, ${F} filters, ${K}×${K} kernel, 1 layer; median of ${iters} (after 1 warm-up); ${cpus().length} cores, load ${loadavg()[0].toFixed(1)}`);
  console.log('| backend | Unroll convLstm (im2col) ms/step | tfjs-layers convLstm2d ms/step |');
  console.log('|---|---|---|');
  for (const b of backends) {
    await selectBackend(b);
    const ours = time(unrollStep());
    let theirs: string;
    try {
      theirs = time(layersStep()).toFixed(0);
    } catch (e) {
      theirs = `fails: ${(e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 80)}`;
    }
    console.log(`| ${b} | ${ours.toFixed(0)} | ${theirs} |`);
  }
}

void main();
