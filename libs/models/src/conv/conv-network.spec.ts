import { tf } from '../tf';
import { selectBackend } from '../backend';
import { parameterSpecs, RecurrentNetwork, type NetworkConfig } from '../network';
import { Rng } from '../rng';
import { TfGemm, type Matrix } from '../gemm';
import { relError } from '../testing';
import { convLstmStack } from './conv-lstm-network';

const convLstmNet: NetworkConfig = {
  cell: { kind: 'lstm' },
  input: { kind: 'dense', size: 4 * 5 * 1 },
  hidden: 4 * 5 * 3,
  layers: 2,
  outputSize: 4 * 5 * 1,
  convLstm: { frame: { height: 4, width: 5, channels: 1 }, filters: 3, kernel: 3 },
};
const cnnNet: NetworkConfig = {
  cell: { kind: 'gru', variant: 'reset-after' },
  input: { kind: 'dense', size: 1 * 8 * 2 },
  hidden: 6,
  layers: 1,
  outputSize: 2,
  cnn: { frame: { height: 1, width: 8, channels: 2 }, filters: [3], kernel: [1, 3], pool: [1, 2], heads: 2 },
};

describe('RecurrentNetwork with convolutional parts', () => {
  it('names and shapes the ConvLSTM stack (convlstm.*, decoder as a 1×1 convolution)', () => {
    expect(parameterSpecs(convLstmNet)).toEqual([
      { name: 'convlstm.weight_ih_l0', shape: [12, 1, 3, 3] },
      { name: 'convlstm.weight_hh_l0', shape: [12, 3, 3, 3] },
      { name: 'convlstm.bias_l0', shape: [12] },
      { name: 'convlstm.weight_c_l0', shape: [3, 3, 4, 5] },
      { name: 'convlstm.weight_ih_l1', shape: [12, 3, 3, 3] },
      { name: 'convlstm.weight_hh_l1', shape: [12, 3, 3, 3] },
      { name: 'convlstm.bias_l1', shape: [12] },
      { name: 'convlstm.weight_c_l1', shape: [3, 3, 4, 5] },
      { name: 'decoder.weight', shape: [1, 3] },
      { name: 'decoder.bias', shape: [1] },
    ]);
    expect(() => parameterSpecs({ ...convLstmNet, hidden: 7 })).toThrow("a ConvLSTM network's hidden must be Hh·Ww·F = 60, got 7");
  });

  it('feeds the multi-head CNN encoding to layer 0', () => {
    expect(parameterSpecs(cnnNet).slice(0, 5)).toEqual([
      { name: 'cnn.head0.conv0.weight', shape: [3, 1, 1, 3] },
      { name: 'cnn.head0.conv0.bias', shape: [3] },
      { name: 'cnn.head1.conv0.weight', shape: [3, 1, 1, 3] },
      { name: 'cnn.head1.conv0.bias', shape: [3] },
      { name: 'rnn.weight_ih_l0', shape: [18, 2 * 4 * 3] },
    ]);
  });

  it("runs the ConvLSTM layers as the fused op on the forward's Gemm by default, equal to the taped ops", () => {
    const net = new RecurrentNetwork(convLstmNet, new Rng(5));
    const [T, B] = [2, 2];
    const x = Float32Array.from({ length: T * B * 20 }, (_, i) => Math.cos(i));
    let products = 0;
    const gemm = new (class extends TfGemm {
      override mul(a: Float32Array, m: number, b: Matrix): Float32Array {
        products++;
        return super.mul(a, m, b);
      }
    })();
    const fused = tf.tidy(() => net.forward({ kind: 'dense', x, T, B }, net.zeroState(B), { gemm }).top.dataSync() as Float32Array);
    expect(products).toBeGreaterThan(0);
    const state = net.zeroState(B).map((s) => ({ h: s.h, c: s.c as Float32Array }));
    const cfg = convLstmNet.convLstm as NonNullable<NetworkConfig['convLstm']>;
    const taped = tf.tidy(() => convLstmStack(cfg, 2, (name) => net.param(name), tf.tensor3d(x, [T, B, 20]), state, { implementation: 'taped' }).top.dataSync() as Float32Array);
    expect(relError(fused, taped)).toBeLessThan(1e-5);
    expect(() => tf.tidy(() => convLstmStack(cfg, 2, (name) => net.param(name), tf.tensor3d(x, [T, B, 20]), state, { implementation: 'fast' as 'fused' }))).toThrow(
      `ConvLSTM implementation must be 'fused' or 'taped', got "fast"`,
    );
    net.dispose();
  });

  describe.each(['cpu', 'wasm'] as const)('a training step on %s', (backend) => {
    beforeAll(() => selectBackend(backend));
    afterAll(() => selectBackend('cpu'));

    it.each([
      ['ConvLSTM ×2', convLstmNet],
      ['CNN → GRU', cnnNet],
    ] as [string, NetworkConfig][])('%s: top shape, carry, finite gradient of every parameter, no leaks', (_n, cfg) => {
      const net = new RecurrentNetwork(cfg, new Rng(3));
      const T = 3;
      const B = 2;
      const x = Float32Array.from({ length: T * B * (cfg.input as { size: number }).size }, (_, i) => Math.sin(i));
      const before = tf.memory().numTensors;
      let carry = net.zeroState(B);
      const { value, grads } = tf.variableGrads(() => {
        const out = net.forward({ kind: 'dense', x, T, B }, net.zeroState(B), { carryAt: 1 });
        carry = out.carry;
        const [, rows, width] = out.top.shape;
        expect(out.top.shape).toEqual(cfg.convLstm ? [T, B * 20, 3] : [T, B, cfg.hidden]);
        const y = tf.add(tf.matMul(tf.reshape(out.top, [T * rows, width]), net.param('decoder.weight'), false, true), net.param('decoder.bias'));
        return tf.mean(tf.square(y)) as tf.Scalar;
      }, [...net.params.values()]);
      expect(Object.keys(grads)).toHaveLength(net.specs.length);
      for (const g of Object.values(grads)) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      expect(carry[0].h).toHaveLength(B * cfg.hidden);
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
    });
  });
});
