import { tf } from '../tf';
import { selectBackend } from '../backend';
import { randomArray, relError, seededRandom } from '../testing';
import { cnnEncode, cnnOutputSize, cnnParameterSpecs, type CnnEncoderConfig } from './cnn-encoder';
import { conv2dSame } from './im2col';

/** tfjs's own conv2d (cpu backend: it has Conv2DBackpropFilter) as the independent reference; measured ≤ 3e-7. */
const TOL = 1e-5;

describe('conv2dSame (im2col + matMul) against tf.conv2d same', () => {
  beforeAll(() => selectBackend('cpu'));
  it.each([
    [3, 3],
    [2, 3],
    [1, 5],
  ])('kernel %i×%i: forward and both gradients', (kh, kw) => {
    const rng = seededRandom(7);
    const x = tf.tensor4d(Float32Array.from(randomArray(2 * 5 * 6 * 3, rng)), [2, 5, 6, 3]);
    const w = tf.tensor4d(Float32Array.from(randomArray(4 * 3 * kh * kw, rng)), [4, 3, kh, kw]);
    const dy = tf.tensor2d(Float32Array.from(randomArray(2 * 5 * 6 * 4, rng)), [60, 4]);
    const ours = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2dSame(a as tf.Tensor4D, b as tf.Tensor4D), dy)));
    const theirs = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.reshape(tf.conv2d(a as tf.Tensor4D, tf.transpose(b, [2, 3, 1, 0]) as tf.Tensor4D, 1, 'same'), [60, 4]), dy)),
    );
    const [gx, gw] = ours([x, w]);
    const [rx, rw] = theirs([x, w]);
    const y = conv2dSame(x, w);
    const ry = tf.reshape(tf.conv2d(x, tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D, 1, 'same'), [60, 4]);
    expect(relError(y.dataSync(), ry.dataSync())).toBeLessThan(TOL);
    expect(relError(gx.dataSync(), rx.dataSync())).toBeLessThan(TOL);
    expect(relError(gw.dataSync(), rw.dataSync())).toBeLessThan(TOL);
    tf.dispose([x, w, dy, gx, gw, rx, rw, y, ry]);
  });
});

describe('cnnEncode', () => {
  beforeAll(() => selectBackend('cpu'));
  const rng = seededRandom(11);
  function params(cfg: CnnEncoderConfig): Map<string, tf.Tensor> {
    return new Map(cnnParameterSpecs(cfg).map((s) => [s.name, tf.tensor(Float32Array.from(randomArray(s.shape.reduce((a, b) => a * b, 1), rng, 0.5)), s.shape)]));
  }

  it.each([
    ['one head, no pooling', { frame: { height: 4, width: 6, channels: 2 }, filters: [3] }, 4 * 6 * 3],
    ['one head, 2×2 pooling, two layers', { frame: { height: 4, width: 8, channels: 1 }, filters: [3, 5], pool: 2 }, 1 * 2 * 5],
    ['three sensor heads, 1×3 kernel, 1×2 pooling', { frame: { height: 1, width: 8, channels: 3 }, filters: [4], kernel: [1, 3], pool: [1, 2], heads: 3 }, 3 * 4 * 4],
  ] as [string, CnnEncoderConfig, number][])('%s: shapes, names and no leaks', (_n, cfg, size) => {
    expect(cnnOutputSize(cfg)).toBe(size);
    const p = params(cfg);
    const before = tf.memory().numTensors;
    const e = tf.tidy(() => cnnEncode(cfg, (n) => p.get(n) as tf.Tensor, tf.ones([3, 2, cfg.frame.height * cfg.frame.width * cfg.frame.channels])));
    expect(e.shape).toEqual([3, 2, size]);
    e.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...p.values()]);
  });

  it('multi-head: each head reads only its own sensor, and the encodings are the heads concatenated', () => {
    const cfg: CnnEncoderConfig = { frame: { height: 1, width: 4, channels: 2 }, filters: [2], kernel: [1, 3], heads: 2 };
    const p = params(cfg);
    expect([...p.keys()]).toEqual(['cnn.head0.conv0.weight', 'cnn.head0.conv0.bias', 'cnn.head1.conv0.weight', 'cnn.head1.conv0.bias']);
    const x = Float32Array.from(randomArray(4 * 2, rng));
    const [both, first] = tf.tidy(() => {
      const e = cnnEncode(cfg, (n) => p.get(n) as tf.Tensor, tf.tensor3d(x, [1, 1, 8]));
      // sensor 0 alone through head 0 (channel 0 of the interleaved NHWC frame)
      const s0 = tf.reshape(tf.slice(tf.tensor4d(x, [1, 1, 4, 2]), [0, 0, 0, 0], [1, 1, 4, 1]), [1, 1, 4]);
      const e0 = cnnEncode({ ...cfg, frame: { ...cfg.frame, channels: 1 }, heads: 1 }, (n) => p.get(n) as tf.Tensor, s0 as tf.Tensor3D);
      return [e.dataSync(), e0.dataSync()];
    });
    expect(Array.from(both.slice(0, 8))).toEqual(Array.from(first));
    tf.dispose([...p.values()]);
  });

  it('refuses heads that do not divide the channels and pools that do not divide the map', () => {
    expect(() => cnnOutputSize({ frame: { height: 4, width: 4, channels: 3 }, filters: [2], heads: 2 })).toThrow("cnn.heads must divide the frame's 3 channels, got 2");
    expect(() => cnnOutputSize({ frame: { height: 4, width: 6, channels: 1 }, filters: [2, 2], pool: 2 })).toThrow("cnn.pool 2×2 must divide layer 1's 2×3 feature map");
  });
});
