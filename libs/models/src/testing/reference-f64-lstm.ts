/**
 * Float64 reference step of the LSTM cell (PyTorch `nn.LSTM`, gate rows i, f, g, o):
 *   pre = W_ih x + b_ih + W_hh h + b_hh
 *   i = σ(pre_i), f = σ(pre_f), g = tanh(pre_g), o = σ(pre_o)
 *   c' = f⊙c + i⊙g
 *   h' = o⊙tanh(c')
 * Backward, with dh', dc' the total gradients reaching h' and c':
 *   dc  = dc' + dh'⊙o⊙(1 − tanh²(c'))      (total gradient on c')
 *   do  = dh'⊙tanh(c'),  di = dc⊙g,  df = dc⊙c,  dg = dc⊙i,  dc_prev = dc⊙f
 *   dpre_i = di⊙i(1−i), dpre_f = df⊙f(1−f), dpre_g = dg⊙(1−g²), dpre_o = do⊙o(1−o)
 *   then the affine backward of both matrix products with dpre.
 */
import { affine, affineBackward, row, sigmoid, StepF64 } from './reference-f64-step';

export const lstmStepF64: StepF64 = ({ p, B, I, H }, x, h, c) => {
  if (c === undefined) throw new Error('lstm step expects the cell state c, got undefined');
  const G = 4 * H;
  const i = new Float64Array(B * H);
  const f = new Float64Array(B * H);
  const g = new Float64Array(B * H);
  const o = new Float64Array(B * H);
  const tanhC = new Float64Array(B * H);
  const cNext = new Float64Array(B * H);
  const hNext = new Float64Array(B * H);
  for (let b = 0; b < B; b++) {
    const gx = affine(p.wIh, p.bIh, row(x, b, I), 0, G);
    const gh = affine(p.wHh, p.bHh, row(h, b, H), 0, G);
    for (let j = 0; j < H; j++) {
      const n = b * H + j;
      i[n] = sigmoid(gx[j] + gh[j]);
      f[n] = sigmoid(gx[H + j] + gh[H + j]);
      g[n] = Math.tanh(gx[2 * H + j] + gh[2 * H + j]);
      o[n] = sigmoid(gx[3 * H + j] + gh[3 * H + j]);
      cNext[n] = f[n] * c[n] + i[n] * g[n];
      tanhC[n] = Math.tanh(cNext[n]);
      hNext[n] = o[n] * tanhC[n];
    }
  }
  return {
    h: hNext,
    c: cNext,
    backward(dH, dCNext, dX, grads) {
      if (dCNext === undefined) throw new Error('lstm backward expects the cell-state gradient dC, got undefined');
      const dHPrev = new Float64Array(B * H);
      const dCPrev = new Float64Array(B * H);
      for (let b = 0; b < B; b++) {
        const dPre = new Float64Array(G);
        for (let j = 0; j < H; j++) {
          const n = b * H + j;
          const dC = dCNext[n] + dH[n] * o[n] * (1 - tanhC[n] * tanhC[n]);
          const dO = dH[n] * tanhC[n];
          const dI = dC * g[n];
          const dF = dC * c[n];
          const dG = dC * i[n];
          dCPrev[n] = dC * f[n];
          dPre[j] = dI * i[n] * (1 - i[n]);
          dPre[H + j] = dF * f[n] * (1 - f[n]);
          dPre[2 * H + j] = dG * (1 - g[n] * g[n]);
          dPre[3 * H + j] = dO * o[n] * (1 - o[n]);
        }
        affineBackward(p.wIh, row(x, b, I), 0, G, dPre, grads.dWIh, grads.dBIh, row(dX, b, I));
        affineBackward(p.wHh, row(h, b, H), 0, G, dPre, grads.dWHh, grads.dBHh, row(dHPrev, b, H));
      }
      return { dH: dHPrev, dC: dCPrev };
    },
  };
};
