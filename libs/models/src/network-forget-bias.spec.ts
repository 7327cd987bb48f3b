/**
 * NetworkConfig.forgetBias: the f blocks of bias_ih and bias_hh each start at b / 2, so
 * the effective forget-gate bias b_ih + b_hh is b; nothing else changes.
 */
import { tf } from './tf';
import { selectBackend } from './backend';
import { RecurrentNetwork, type NetworkConfig } from './network';
import { Rng } from './rng';

const H = 4;
const base: NetworkConfig = { cell: { kind: 'lstm' }, input: { kind: 'dense', size: 3 }, hidden: H, layers: 2, outputSize: 2, bidirectional: true };

function snapshots(cfg: NetworkConfig): Map<string, Float32Array> {
  const net = new RecurrentNetwork(cfg, new Rng(7));
  const snap = net.snapshot();
  net.dispose();
  return snap;
}

describe('RecurrentNetwork forgetBias', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it.each([
    ['i,f,g,o: the f block is block 1', {}, 1],
    ['coupled gates f,g,o: the f block is block 0', { coupledGates: true }, 0],
  ])('%s; b_ih + b_hh = b in every layer and direction, every other value as without it', (_, variant, block) => {
    const before = tf.memory().numTensors;
    const plain = snapshots({ ...base, cell: { kind: 'lstm', ...variant } });
    const biased = snapshots({ ...base, cell: { kind: 'lstm', ...variant }, forgetBias: 1.5 });
    expect(tf.memory().numTensors).toBe(before);
    const f = (i: number) => i >= block * H && i < (block + 1) * H;
    for (const [name, values] of biased) {
      const reference = plain.get(name) as Float32Array;
      if (!/^rnn\.bias_(ih|hh)_/.test(name)) {
        expect(values).toEqual(reference);
        continue;
      }
      values.forEach((v, i) => expect(v).toBe(f(i) ? 0.75 : reference[i]));
    }
    for (const sfx of ['l0', 'l0_reverse', 'l1', 'l1_reverse']) {
      const sum = (biased.get(`rnn.bias_ih_${sfx}`) as Float32Array).map((v, i) => v + (biased.get(`rnn.bias_hh_${sfx}`) as Float32Array)[i]);
      expect(Array.from(sum.slice(block * H, (block + 1) * H))).toEqual([1.5, 1.5, 1.5, 1.5]);
    }
  });

  it('refuses a forgetBias on a cell without a forget gate, or not finite, before creating any variable', () => {
    const before = tf.memory().numTensors;
    expect(() => new RecurrentNetwork({ ...base, cell: { kind: 'gru', variant: 'reset-after' }, forgetBias: 1 }, new Rng(7))).toThrow('forgetBias needs an lstm cell, got gru');
    expect(() => new RecurrentNetwork({ ...base, forgetBias: NaN }, new Rng(7))).toThrow('forgetBias must be a finite number, got NaN');
    expect(tf.memory().numTensors).toBe(before);
  });
});
