/**
 * Float64 reference step of the Elman RNN cell (PyTorch `nn.RNN`):
 *   a  = W_ih x + b_ih + W_hh h + b_hh
 *   h' = act(a),  act = tanh or relu
 * Backward:
 *   da = dh' · act'(a),  tanh' = 1 − h'²,  relu' = [a > 0]
 *   dx = W_ihᵀ da, dh = W_hhᵀ da, dW_ih = da xᵀ, dW_hh = da hᵀ, db_ih = db_hh = da
 */
import { affine, affineBackward, row, StepF64 } from './reference-f64-step';

export function rnnStepF64(activation: 'tanh' | 'relu'): StepF64 {
  return ({ p, B, I, H }, x, h) => {
    const a = new Float64Array(B * H);
    const hNext = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      const gx = affine(p.wIh, p.bIh, row(x, b, I), 0, H);
      const gh = affine(p.wHh, p.bHh, row(h, b, H), 0, H);
      for (let j = 0; j < H; j++) {
        const n = b * H + j;
        a[n] = gx[j] + gh[j];
        hNext[n] = activation === 'tanh' ? Math.tanh(a[n]) : Math.max(a[n], 0);
      }
    }
    return {
      h: hNext,
      backward(dH, _dC, dX, g) {
        const dHPrev = new Float64Array(B * H);
        for (let b = 0; b < B; b++) {
          const da = new Float64Array(H);
          for (let j = 0; j < H; j++) {
            const n = b * H + j;
            const dAct = activation === 'tanh' ? 1 - hNext[n] * hNext[n] : a[n] > 0 ? 1 : 0;
            da[j] = dH[n] * dAct;
          }
          affineBackward(p.wIh, row(x, b, I), 0, H, da, g.dWIh, g.dBIh, row(dX, b, I));
          affineBackward(p.wHh, row(h, b, H), 0, H, da, g.dWHh, g.dBHh, row(dHPrev, b, H));
        }
        return { dH: dHPrev };
      },
    };
  };
}
