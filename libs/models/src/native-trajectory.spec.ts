/**
 * Issue 5, criterion 5: loss trajectories over 20 training steps agree between the
 * native kernel and the tfjs path to 1e-5, for every cell — a two-layer token
 * network, TBPTT state carried across windows, plain SGD on the tfjs variables.
 */
import { describeNative } from '@unroll/kernels-native/testing';
import { loadNativeKernels } from '@unroll/kernels-native';
import { tf } from './tf';
import { selectBackend } from './backend';
import { RecurrentNetwork, type NetworkState } from './network';
import { linearCrossEntropy } from './linear-cross-entropy';
import { NativeKernel, TfjsKernel, type WindowKernel } from './kernel';
import { Rng } from './rng';
import type { CellConfig } from './cells';

const load = loadNativeKernels();

const cells: CellConfig[] = [
  { kind: 'rnn', activation: 'tanh' },
  { kind: 'rnn', activation: 'relu' },
  { kind: 'lstm' },
  { kind: 'gru', variant: 'reset-after' },
  { kind: 'gru', variant: 'reset-before' },
];

function trajectory(cell: CellConfig, kernel: WindowKernel, steps: number): number[] {
  const [V, T, B] = [7, 8, 3];
  const net = new RecurrentNetwork({ cell, input: { kind: 'tokens', vocabSize: V, embedding: 5 }, hidden: 6, layers: 2, outputSize: V }, new Rng(11), { kernel });
  const data = new Rng(3);
  const lr = 1;
  // One fixed window, seen every step: the loss must fall, so the trajectory really moves.
  const ids = Int32Array.from({ length: T * B }, () => Math.floor(data.uniform(0, V)));
  const targets = Int32Array.from({ length: T * B }, (_, i) => (ids[i] + 1) % V);
  let state: NetworkState = net.zeroState(B);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    let carry: NetworkState = state;
    const { value, grads } = tf.variableGrads(() => {
      const out = net.forward({ kind: 'tokens', ids, T, B }, state); // the network's own kernel
      carry = out.carry;
      const h = tf.reshape(out.top, [T * B, 6]) as tf.Tensor2D;
      return tf.div(linearCrossEntropy(h, net.param('decoder.weight') as tf.Variable<tf.Rank.R2>, net.param('decoder.bias') as tf.Variable<tf.Rank.R1>, targets), T * B) as tf.Scalar;
    });
    losses.push(value.dataSync()[0]);
    tf.tidy(() => {
      for (const [name, g] of Object.entries(grads)) {
        const p = [...net.params.values()].find((v) => v.name === name) as tf.Variable;
        p.assign(tf.sub(p, tf.mul(g, lr)));
      }
    });
    tf.dispose([value, ...Object.values(grads)]);
    state = carry;
  }
  net.dispose();
  return losses;
}

describeNative('native kernel: 20-step loss trajectories', () => {
  const native = new NativeKernel((load as { ok: true; kernels: NativeKernel['kernels'] }).kernels, 'test');
  const tfjs = new TfjsKernel('test');

  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it.each(cells.map((c) => [JSON.stringify(c), c] as const))('%s: native and tfjs agree to 1e-5 at every step', (_n, cell) => {
    const before = tf.memory().numTensors;
    const a = trajectory(cell, native, 20);
    const b = trajectory(cell, tfjs, 20);
    expect(a[19]).toBeLessThan(a[0] - 0.05); // it trains (ln 7 ≈ 1.95 → ≈ 1.85)
    const worst = Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.abs(b[i])));
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });
});
