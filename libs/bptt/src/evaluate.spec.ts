/**
 * evaluate(): mean loss over every position of every stream, windows of `window`
 * steps with the state carried, the last window shortened — checked against the
 * windows summed by hand and against a float64 loop over the whole streams.
 */
import { selectBackend, tf, type RecurrentNetwork } from '@unroll/models';
import { batchify } from '@unroll/datasets';
import { TokenSequenceData } from './sequence-data';
import { evaluate } from './trainer';
import { windowLoss } from './window-gradients';
import { randomTokens, TANH, tinyTokenNet } from './testing';

const VOCAB = 7;
const S = 3;
const P = 10; // positions per stream: windows of 4 are [0,4) [4,8) [8,10)
const WINDOW = 4;

/**
 * Float64 reference for a 1-layer token tanh RNN in RNNModel layout, over whole
 * streams: h_p = tanh(W_ih·E[x_p] + b_ih + W_hh·h_{p−1} + b_hh), logits = V·h_p + c,
 * loss −ln softmax(logits)[target]; with `resetEvery`, h is zeroed at those positions.
 */
function referenceLossSum(net: RecurrentNetwork, data: TokenSequenceData, resetEvery = Infinity): number {
  const p = net.snapshot();
  const get = (n: string) => p.get(n) as Float32Array;
  const [E, wIh, wHh, bIh, bHh, V, c] = ['encoder.weight', 'rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'rnn.bias_ih_l0', 'rnn.bias_hh_l0', 'decoder.weight', 'decoder.bias'].map(get);
  const H = net.config.hidden;
  const I = wIh.length / H;
  const O = c.length;
  const win = data.window(0, data.streams, 0, data.positions);
  if (win.input.kind !== 'tokens') throw new TypeError('expected token input');
  const ids = win.input.ids;
  let sum = 0;
  for (let b = 0; b < data.streams; b++) {
    let h = new Float64Array(H);
    for (let t = 0; t < data.positions; t++) {
      if (t % resetEvery === 0) h = new Float64Array(H);
      const x = ids[t * data.streams + b];
      const next = new Float64Array(H);
      for (let j = 0; j < H; j++) {
        let pre = bIh[j] + bHh[j];
        for (let k = 0; k < I; k++) pre += wIh[j * I + k] * E[x * I + k];
        for (let k = 0; k < H; k++) pre += wHh[j * H + k] * h[k];
        next[j] = Math.tanh(pre);
      }
      h = next;
      const logits = Array.from({ length: O }, (_, o) => c[o] + h.reduce((acc, hk, k) => acc + V[o * H + k] * hk, 0));
      const max = Math.max(...logits);
      const lse = max + Math.log(logits.reduce((acc, z) => acc + Math.exp(z - max), 0));
      sum += lse - logits[(win.targets as Int32Array)[t * data.streams + b]];
    }
  }
  return sum;
}

describe('evaluate', () => {
  let net: RecurrentNetwork;
  let data: TokenSequenceData;

  beforeAll(async () => {
    await selectBackend('cpu');
    // Larger weights than the default init so the carried state matters to the loss.
    net = tinyTokenNet({ cell: TANH, vocab: VOCAB, hidden: 8, seed: 4 });
    const p = net.snapshot();
    for (const [name, a] of p) if (name.startsWith('rnn.') || name.startsWith('decoder.')) a.forEach((v, i) => (a[i] = 6 * v));
    net.load(p);
    data = new TokenSequenceData(batchify(randomTokens(S * (P + 1), VOCAB, 17), S));
  });

  afterAll(() => net.dispose());

  it('equals the mean of windowLoss over windows carried by hand, the last one shortened', () => {
    let state = net.zeroState(S);
    let sum = 0;
    let count = 0;
    for (const [start, T] of [
      [0, 4],
      [4, 4],
      [8, 2],
    ]) {
      const r = windowLoss(net, data.window(0, S, start, T), state, 'cross-entropy');
      sum += r.lossSum;
      count += r.count;
      state = r.carry;
    }
    const ev = evaluate(net, data, WINDOW, 'cross-entropy');
    expect(count).toBe(S * P);
    expect(ev.tokens).toBe(S * P);
    expect(Math.abs(ev.loss - sum / count)).toBeLessThanOrEqual(1e-6);
  });

  it('matches a float64 loop over the whole streams', () => {
    const ev = evaluate(net, data, WINDOW, 'cross-entropy');
    const ref = referenceLossSum(net, data) / (S * P);
    expect(Math.abs(ev.loss - ref) / ref).toBeLessThanOrEqual(1e-5);
    // Resetting the state at every window gives a visibly different loss: the
    // comparison above would catch an evaluation that did not carry the state.
    const reset = referenceLossSum(net, data, WINDOW) / (S * P);
    expect(Math.abs(reset - ref) / ref).toBeGreaterThan(1e-3);
  });

  it('does not depend on the window length', () => {
    const a = evaluate(net, data, WINDOW, 'cross-entropy');
    const b = evaluate(net, data, 3, 'cross-entropy');
    const c = evaluate(net, data, P, 'cross-entropy');
    expect(Math.abs(a.loss - b.loss)).toBeLessThanOrEqual(1e-6);
    expect(Math.abs(a.loss - c.loss)).toBeLessThanOrEqual(1e-6);
  });

  it('reports bits per token as loss / ln 2', () => {
    const ev = evaluate(net, data, WINDOW, 'cross-entropy');
    expect(ev.bitsPerToken).toBe(ev.loss / Math.LN2);
    expect(ev.bitsPerToken).toBeCloseTo(ev.loss * Math.LOG2E, 12);
  });

  it('stops after maxWindows', () => {
    const ev = evaluate(net, data, WINDOW, 'cross-entropy', 2);
    expect(ev.tokens).toBe(S * 2 * WINDOW);
    const first = windowLoss(net, data.window(0, S, 0, 2 * WINDOW), net.zeroState(S), 'cross-entropy');
    expect(Math.abs(ev.loss - first.lossSum / first.count)).toBeLessThanOrEqual(1e-6);
  });

  it('leaks no tensor', () => {
    const before = tf.memory().numTensors;
    evaluate(net, data, WINDOW, 'cross-entropy');
    expect(tf.memory().numTensors).toBe(before);
  });
});
