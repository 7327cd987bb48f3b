/**
 * Token embedding lookup e_t = E[x_t] with a hand-written gradient.
 *
 * tf.gather's registered gradient needs UnsortedSegmentSum, which the wasm backend
 * lacks; the gradient of a lookup is a scatter-add of the output gradient rows into
 * the rows of E that were read, done here on the host. With `onHost` the lookup is a
 * host copy of the rows too (for the native window kernel, which reads its input on
 * the host anyway; tfjs-backend-cpu's gather costs more than the rest of the lookup).
 */
import { tf } from './tf';

export class TokenRangeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'TokenRangeError';
  }
}

export interface EmbeddingOptions {
  /** Copy the rows on the host instead of tf.gather (the same values). @defaultValue false */
  onHost?: boolean;
}

/** Looks up `ids` (any layout, `shape` gives it) in `weight` [V, E]; returns [...shape, E]. */
export function embeddingLookup(weight: tf.Tensor2D, ids: Int32Array, shape: number[], opts: EmbeddingOptions = {}): tf.Tensor {
  const [V, E] = weight.shape;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= V) throw new TokenRangeError(`token id ${ids[i]} at position ${i} is outside the vocabulary [0, ${V})`);
  }
  const op = tf.customGrad((...args) => {
    const w = args[0] as tf.Tensor2D;
    const value = opts.onHost ? hostRows(w.dataSync() as Float32Array, ids, E, [...shape, E]) : tf.tidy(() => tf.reshape(tf.gather(w, tf.tensor1d(ids, 'int32')), [...shape, E]));
    const gradFunc = (dy: tf.Tensor): tf.Tensor[] => {
      const d = dy.dataSync() as Float32Array;
      const dW = new Float32Array(V * E);
      for (let r = 0; r < ids.length; r++) {
        const src = r * E;
        const dst = ids[r] * E;
        for (let j = 0; j < E; j++) dW[dst + j] += d[src + j];
      }
      return [tf.tensor2d(dW, [V, E])];
    };
    return { value, gradFunc };
  });
  return op(weight);
}

function hostRows(w: Float32Array, ids: Int32Array, E: number, shape: number[]): tf.Tensor {
  const out = new Float32Array(ids.length * E);
  for (let r = 0; r < ids.length; r++) out.set(w.subarray(ids[r] * E, (ids[r] + 1) * E), r * E);
  return tf.tensor(out, shape);
}
