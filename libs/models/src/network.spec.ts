import { tf } from './tf';
import { selectBackend } from './backend';
import { parameterSpecs, RecurrentNetwork } from './network';
import { Rng } from './rng';

describe('RecurrentNetwork', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  const cfg = { cell: { kind: 'lstm' as const }, input: { kind: 'tokens' as const, vocabSize: 5, embedding: 3 }, hidden: 4, layers: 2, outputSize: 5 };

  it('names and shapes its parameters as PyTorch RNNModel', () => {
    expect(parameterSpecs(cfg)).toEqual([
      { name: 'encoder.weight', shape: [5, 3] },
      { name: 'rnn.weight_ih_l0', shape: [16, 3] },
      { name: 'rnn.weight_hh_l0', shape: [16, 4] },
      { name: 'rnn.bias_ih_l0', shape: [16] },
      { name: 'rnn.bias_hh_l0', shape: [16] },
      { name: 'rnn.weight_ih_l1', shape: [16, 4] },
      { name: 'rnn.weight_hh_l1', shape: [16, 4] },
      { name: 'rnn.bias_ih_l1', shape: [16] },
      { name: 'rnn.bias_hh_l1', shape: [16] },
      { name: 'decoder.weight', shape: [5, 4] },
      { name: 'decoder.bias', shape: [5] },
    ]);
  });

  it('initialises like RNNModel (U(−0.1, 0.1) encoder/decoder, zero decoder bias, U(−1/√H, 1/√H) rnn) and holds only its variables', () => {
    const before = tf.memory().numTensors;
    const net = new RecurrentNetwork(cfg, new Rng(1));
    expect(tf.memory().numTensors - before).toBe(11);
    const snap = net.snapshot();
    expect(Array.from(snap.get('decoder.bias') as Float32Array)).toEqual([0, 0, 0, 0, 0]);
    const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(maxAbs(snap.get('encoder.weight') as Float32Array)).toBeLessThanOrEqual(0.1);
    expect(maxAbs(snap.get('rnn.weight_hh_l1') as Float32Array)).toBeLessThanOrEqual(0.5);
    expect(maxAbs(snap.get('rnn.weight_hh_l1') as Float32Array)).toBeGreaterThan(0.3);
    net.load(snap);
    expect(tf.memory().numTensors - before).toBe(11);
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a parameter of the wrong size on load', () => {
    const net = new RecurrentNetwork(cfg, new Rng(1));
    const snap = net.snapshot();
    snap.set('rnn.bias_hh_l1', new Float32Array(15));
    expect(() => net.load(snap)).toThrow(/rnn\.bias_hh_l1 expects 16 values/);
    net.dispose();
  });
});
