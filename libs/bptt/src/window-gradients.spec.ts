/**
 * k1 < k2 against a case worked by hand: a 1-unit tanh RNN (input 1, hidden 1,
 * output 1), loss 'sse', one stream, window k2 = T = 3, stride k1 = 2. The loss is
 * taken on the k1 = 2 newest steps (rows 1 and 2), gradients flow back through all
 * 3 steps, and the state carried to the next window is h after step k1 − 1 = 1.
 */
import { selectBackend, tf } from '@unroll/models';
import { DenseSequenceData } from './sequence-data';
import { Sgd } from './optimizers';
import { Trainer } from './trainer';
import { windowGradients } from './window-gradients';
import { RecordingData, RecordingStateStore, TANH, tinyDenseNet } from './testing';

// Scalar weights, all exactly representable in float32.
const W_IH = 0.5;
const W_HH = -0.75;
const B_IH = 0.125;
const B_HH = -0.0625;
const V = 1.5; // decoder.weight
const C = 0.25; // decoder.bias
// Rows (x_t, d_t): the first window reads rows 0..2, the second rows 2..4.
const X = [1, -0.5, 0.25, 0.75, -1];
const D = [0.5, -0.375, 0.625, 0.125, -0.25];

const PARAMS = new Map<string, Float32Array>([
  ['rnn.weight_ih_l0', Float32Array.of(W_IH)],
  ['rnn.weight_hh_l0', Float32Array.of(W_HH)],
  ['rnn.bias_ih_l0', Float32Array.of(B_IH)],
  ['rnn.bias_hh_l0', Float32Array.of(B_HH)],
  ['decoder.weight', Float32Array.of(V)],
  ['decoder.bias', Float32Array.of(C)],
]);

function rows(): Float32Array {
  return Float32Array.from(X.flatMap((x, t) => [x, D[t]]));
}

/**
 * The window [0, 3) worked by hand, in float64. Steps are numbered 1..3 as in the
 * lecture (row t − 1 of the window), h0 = 0:
 *
 *   h1 = tanh(W_ih·x1 + b_ih + W_hh·h0 + b_hh)                          ≈  0.50983
 *   h2 = tanh(W_ih·x2 + b_ih + W_hh·h1 + b_hh)                          ≈ −0.51527
 *   h3 = tanh(W_ih·x3 + b_ih + W_hh·h2 + b_hh)                          ≈  0.51825
 *   y_t = V·h_t + c,  e_t = y_t − d_t   (scored steps only: t = 2, 3;  e1 = 0)
 *   L = ½·(e2² + e3²)                                                   ≈  0.091892
 *
 * Backward, δ_t = ∂L/∂h_t and a_t = ∂L/∂pre_t = δ_t·(1 − h_t²):
 *   δ3 = e3·V                       a3 = δ3·(1 − h3²)
 *   δ2 = e2·V + a3·W_hh             a2 = δ2·(1 − h2²)
 *   δ1 = 0    + a2·W_hh             a1 = δ1·(1 − h1²)   (step 1 is not scored)
 *   ∂L/∂W_ih = a1·x1 + a2·x2 + a3·x3                                    ≈  0.53886
 *   ∂L/∂W_hh = a1·h0 + a2·h1 + a3·h2                                    ≈ −0.43453
 *   ∂L/∂b_ih = ∂L/∂b_hh = a1 + a2 + a3                                  ≈  0.26075
 *   ∂L/∂V    = e2·h2 + e3·h3                                            ≈  0.28474
 *   ∂L/∂c    = e2 + e3                                                  ≈  0.25448
 */
function byHand() {
  const [x1, x2, x3] = X;
  const [, d2, d3] = D;
  const h0 = 0;
  const h1 = Math.tanh(W_IH * x1 + B_IH + W_HH * h0 + B_HH);
  const h2 = Math.tanh(W_IH * x2 + B_IH + W_HH * h1 + B_HH);
  const h3 = Math.tanh(W_IH * x3 + B_IH + W_HH * h2 + B_HH);
  const e2 = V * h2 + C - d2;
  const e3 = V * h3 + C - d3;
  const loss = 0.5 * (e2 * e2 + e3 * e3);
  const delta3 = e3 * V;
  const a3 = delta3 * (1 - h3 * h3);
  const delta2 = e2 * V + a3 * W_HH;
  const a2 = delta2 * (1 - h2 * h2);
  const delta1 = a2 * W_HH;
  const a1 = delta1 * (1 - h1 * h1);
  const grads = new Map<string, number>([
    ['rnn.weight_ih_l0', a1 * x1 + a2 * x2 + a3 * x3],
    ['rnn.weight_hh_l0', a1 * h0 + a2 * h1 + a3 * h2],
    ['rnn.bias_ih_l0', a1 + a2 + a3],
    ['rnn.bias_hh_l0', a1 + a2 + a3],
    ['decoder.weight', e2 * h2 + e3 * h3],
    ['decoder.bias', e2 + e3],
  ]);
  return { h1, h2, h3, loss, grads, flow: [Math.abs(delta1), Math.abs(delta2), Math.abs(delta3)] };
}

describe('windowGradients with k1 < k2, against a hand-computed case', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  const expected = byHand();

  it('the golden values in the comment are the ones computed', () => {
    // Guards the comment above against drifting from the code.
    expect(expected.h2).toBeCloseTo(-0.51527, 5);
    expect(expected.loss).toBeCloseTo(0.091892, 6);
    expect(expected.grads.get('rnn.weight_hh_l0')).toBeCloseTo(-0.43453, 5);
  });

  it('scores the 2 newest steps, backpropagates through 3 and carries h2', () => {
    const net = tinyDenseNet(TANH, 1, 1, 1);
    net.load(PARAMS);
    const data = new DenseSequenceData(rows(), 1, 1, 1);
    const job = windowGradients(net, data.window(0, 1, 0, 3), net.zeroState(1), { loss: 'sse', scoredFrom: 1, carryAt: 1 });

    expect(job.count).toBe(2);
    expect(Math.abs(job.lossSum - expected.loss)).toBeLessThanOrEqual(1e-5);
    expect([...job.grads.keys()]).toEqual([...PARAMS.keys()]);
    for (const [name, g] of expected.grads) {
      const got = job.grads.get(name) as Float32Array;
      expect([name, Math.abs(got[0] - g) <= 1e-5]).toEqual([name, true]);
    }
    // The carried state is h after step k1 − 1 (h2), not the window's last h3.
    expect(Math.abs(job.carry[0].h[0] - expected.h2)).toBeLessThanOrEqual(1e-6);
    expect(Math.abs(job.carry[0].h[0] - expected.h3)).toBeGreaterThan(0.5);
    // Gradient flow ‖∂L/∂h_t‖ for t = 1..3.
    expect(job.flow).toHaveLength(1);
    expect(Array.from(job.flow[0]).map((f, t) => Math.abs(f - expected.flow[t]) <= 1e-5)).toEqual([true, true, true]);
    net.dispose();
  });

  it('scoring the whole window instead changes loss and gradients (the check can fail)', () => {
    const net = tinyDenseNet(TANH, 1, 1, 1);
    net.load(PARAMS);
    const data = new DenseSequenceData(rows(), 1, 1, 1);
    const job = windowGradients(net, data.window(0, 1, 0, 3), net.zeroState(1), { loss: 'sse' });
    expect(job.count).toBe(3);
    expect(Math.abs(job.lossSum - expected.loss)).toBeGreaterThan(1e-3);
    expect(Math.abs(job.carry[0].h[0] - expected.h3)).toBeLessThanOrEqual(1e-6);
    net.dispose();
  });

  it('the Trainer takes that gradient, carries h2 into step 1 and starts it at position k1', () => {
    const net = tinyDenseNet(TANH, 1, 1, 1);
    const data = new RecordingData(new DenseSequenceData(rows(), 1, 1, 1));
    const store = new RecordingStateStore();
    const trainer = new Trainer({ net, data, store, tbptt: { streams: 1, window: 3, stride: 2, microBatch: 1 }, loss: 'sse', optimizer: new Sgd({ lr: 1 }) });
    trainer.loadParams(PARAMS);
    expect(trainer.schedule.windowsPerEpoch).toBe(2);

    const r0 = trainer.runStep();
    expect(r0.tokens).toBe(2);
    expect(Math.abs(r0.loss - expected.loss / 2)).toBeLessThanOrEqual(1e-6);
    // SGD with lr 1: p ← p − ∂L/∂p / count, count = 2 scored positions.
    for (const [name, g] of expected.grads) {
      const want = (PARAMS.get(name) as Float32Array)[0] - g / 2;
      expect([name, Math.abs((trainer.params.get(name) as Float32Array)[0] - want) <= 1e-5]).toEqual([name, true]);
    }
    expect(store.reads).toEqual([]); // window 0 starts from zeros, not from the store

    trainer.runStep();
    expect(data.requests.map((q) => [q.start, q.T])).toEqual([
      [0, 3],
      [2, 3],
    ]);
    expect(store.reads).toHaveLength(1);
    const read = store.reads[0];
    expect([read.first, read.count, read.step]).toEqual([0, 1, 1]);
    // Step 1 starts from h2 of step 0, computed with the parameters before the update.
    expect(Math.abs((read.state?.[0].h as Float32Array)[0] - expected.h2)).toBeLessThanOrEqual(1e-6);
    net.dispose();
  });

  it('addInto adds the gradient into the given arrays and hands them back, bit for bit acc + the fresh copy', () => {
    const net = tinyDenseNet(TANH, 1, 1, 1);
    const data = new DenseSequenceData(rows(), 1, 1, 1);
    const opts = { loss: 'sse', scoredFrom: 1, carryAt: 1 } as const;
    const fresh = windowGradients(net, data.window(0, 1, 0, 3), net.zeroState(1), opts).grads;
    const acc = new Map([...PARAMS].map(([name]) => [name, Float32Array.of(0.1)]));
    const out = windowGradients(net, data.window(0, 1, 0, 3), net.zeroState(1), { ...opts, addInto: acc });
    expect(out.grads).toBe(acc);
    for (const [name, g] of fresh) expect((acc.get(name) as Float32Array)[0]).toBe(Math.fround(Math.fround(0.1) + g[0]));
    net.dispose();
  });

  it('leaks no tensor', () => {
    const net = tinyDenseNet(TANH, 1, 1, 1);
    const data = new DenseSequenceData(rows(), 1, 1, 1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) windowGradients(net, data.window(0, 1, 0, 3), net.zeroState(1), { loss: 'sse', scoredFrom: 1, carryAt: 1 });
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
  });
});
