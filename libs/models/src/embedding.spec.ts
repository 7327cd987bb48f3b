/**
 * The token embedding's two lookups — tf.gather (the tfjs path) and the host copy
 * (`onHost`, used with the native window kernel) — give the same bits, forward and
 * backward (the scatter-add is shared), and neither leaks a tensor.
 */
import { tf } from './tf';
import { selectBackend } from './backend';
import { embeddingLookup, TokenRangeError } from './embedding';
import { seededRandom } from './testing';

const [V, E, T, B] = [11, 6, 4, 3];

function lookupAndGrad(onHost: boolean): { y: Float32Array; dW: Float32Array } {
  const rng = seededRandom(4);
  const weight = tf.tensor2d(Float32Array.from({ length: V * E }, () => rng() * 2 - 1), [V, E]);
  // Repeated ids: their gradient rows add up.
  const ids = Int32Array.from({ length: T * B }, (_, i) => (i * 5) % 7);
  const dy = tf.tensor3d(Float32Array.from({ length: T * B * E }, () => rng() - 0.5), [T, B, E]);
  let y = new Float32Array(0);
  const [dW] = tf.grads((w: tf.Tensor) => {
    const out = embeddingLookup(w as tf.Tensor2D, ids, [T, B], { onHost });
    expect(out.shape).toEqual([T, B, E]);
    y = Float32Array.from(out.dataSync() as Float32Array);
    return out;
  })([weight], dy);
  const grad = Float32Array.from(dW.dataSync() as Float32Array);
  tf.dispose([weight, dy, dW]);
  return { y, dW: grad };
}

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('embeddingLookup', () => {
  it('the host lookup and tf.gather give the same bits, forward and backward', () => {
    const before = tf.memory().numTensors;
    const onTf = lookupAndGrad(false);
    const onHost = lookupAndGrad(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(onHost.y).toEqual(onTf.y);
    expect(onHost.dW).toEqual(onTf.dW);
    expect(onTf.dW.some((v) => v !== 0)).toBe(true);
  });

  it.each([false, true])('refuses an id outside the vocabulary (onHost %s)', (onHost) => {
    const w = tf.zeros([V, E]) as tf.Tensor2D;
    expect(() => embeddingLookup(w, Int32Array.from([0, V]), [2], { onHost })).toThrow(TokenRangeError);
    w.dispose();
  });
});
