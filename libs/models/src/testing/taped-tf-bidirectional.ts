/**
 * A deep (bidirectional) network of taped reference cells: layer l's forward
 * direction runs tapedWindow forward in time, its backward direction runs
 * tapedWindow with `reverse` (h_t reads h_{t+1}), and layer l + 1 reads the two
 * concatenated, [s^f_t, s^b_t]. Differentiated by tfjs, it is the autodiff check
 * of RecurrentNetwork's bidirectional path (same equations as
 * reference-f64-bidirectional.ts; zero initial states).
 */
import * as tf from '@tensorflow/tfjs-core';
import { RefCell } from './ref-cell';
import { tapedWindow, TapedParams } from './taped-tf';

/** Top layer output [T, B, D·H]; params[l][d] are layer l's direction d (D = 1 or 2). */
export function tapedDeepNetwork(cell: RefCell, params: TapedParams[][], x: tf.Tensor3D, H: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [, B] = x.shape;
    let input = x;
    for (const layer of params) {
      const outs = layer.map((p, dir) => {
        const zeros = tf.zeros([B, H]) as tf.Tensor2D;
        return tapedWindow(cell, p, input, zeros, cell.cell === 'lstm' ? zeros : undefined, { reverse: dir === 1 }).y;
      });
      input = outs.length === 1 ? outs[0] : (tf.concat(outs, 2) as tf.Tensor3D);
    }
    return input;
  });
}
