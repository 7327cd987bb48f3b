/**
 * Float64 reference step of the lecture's LSTM variants, written straight from the
 * slide's equations with the concatenation [C_{t−1}, h_{t−1}, x_t] split into its
 * three weight blocks (wCh, wHh, wIh):
 *   pre_k = W_ih,k x + b_ih,k + W_hh,k h + b_hh,k (+ W_ch,k c for k in i, f, o with peepholes)
 *   f = σ(pre_f),  g = tanh(pre_g),  o = σ(pre_o)
 *   i = σ(pre_i), or i = 1 − f with coupled gates
 *   c' = f⊙c + i⊙g,  h' = o⊙tanh(c')
 * Gate blocks in wIh/wHh: i, f, g, o, or f, g, o when coupled; in wCh: i, f, o, or
 * f, o when coupled.
 * Backward, with dh', dc' the total gradients reaching h' and c':
 *   dc = dc' + dh'⊙o⊙(1 − tanh²(c')),  do = dh'⊙tanh(c'),  dg = dc⊙i,  di = dc⊙g
 *   df = dc⊙c, minus di when coupled (∂i/∂f = −1)
 *   dpre_f = df·f(1−f), dpre_g = dg(1−g²), dpre_o = do·o(1−o), dpre_i = di·i(1−i)
 *   dc_prev = dc⊙f + W_chᵀ dpre (peephole rows), then the affine backward of each product.
 */
import type { RefCell } from './ref-cell';
import { affine, affineBackward, row, sigmoid, StepF64 } from './reference-f64-step';

type Gate = 'i' | 'f' | 'g' | 'o';

export function lstmVariantStepF64(cell: RefCell & { cell: 'lstm' }): StepF64 {
  const coupled = cell.coupledGates === true;
  const peep = cell.peepholes === true;
  const blocks: Gate[] = coupled ? ['f', 'g', 'o'] : ['i', 'f', 'g', 'o'];
  const peepBlocks: Gate[] = peep ? (coupled ? ['f', 'o'] : ['i', 'f', 'o']) : [];
  return ({ p, B, I, H }, x, h, c) => {
    if (c === undefined) throw new Error('lstm step expects the cell state c, got undefined');
    const G = blocks.length * H;
    const P = peepBlocks.length * H;
    const noBias = new Float64Array(P);
    const gate: Record<Gate, Float64Array> = { i: new Float64Array(B * H), f: new Float64Array(B * H), g: new Float64Array(B * H), o: new Float64Array(B * H) };
    const tanhC = new Float64Array(B * H);
    const cNext = new Float64Array(B * H);
    const hNext = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      const gx = affine(p.wIh, p.bIh, row(x, b, I), 0, G);
      const gh = affine(p.wHh, p.bHh, row(h, b, H), 0, G);
      const gc = peep ? affine(p.wCh as Float64Array, noBias, row(c, b, H), 0, P) : new Float64Array(0);
      const pre = (k: Gate, j: number): number => {
        const blk = blocks.indexOf(k);
        const pk = peepBlocks.indexOf(k);
        return gx[blk * H + j] + gh[blk * H + j] + (pk >= 0 ? gc[pk * H + j] : 0);
      };
      for (let j = 0; j < H; j++) {
        const n = b * H + j;
        gate.f[n] = sigmoid(pre('f', j));
        gate.i[n] = coupled ? 1 - gate.f[n] : sigmoid(pre('i', j));
        gate.g[n] = Math.tanh(pre('g', j));
        gate.o[n] = sigmoid(pre('o', j));
        cNext[n] = gate.f[n] * c[n] + gate.i[n] * gate.g[n];
        tanhC[n] = Math.tanh(cNext[n]);
        hNext[n] = gate.o[n] * tanhC[n];
      }
    }
    return {
      h: hNext,
      c: cNext,
      backward(dH, dCNext, dX, grads) {
        if (dCNext === undefined) throw new Error('lstm backward expects the cell-state gradient dC, got undefined');
        const dHPrev = new Float64Array(B * H);
        const dCPrev = new Float64Array(B * H);
        const scratchBias = new Float64Array(P);
        for (let b = 0; b < B; b++) {
          const dPre: Record<Gate, Float64Array> = { i: new Float64Array(H), f: new Float64Array(H), g: new Float64Array(H), o: new Float64Array(H) };
          for (let j = 0; j < H; j++) {
            const n = b * H + j;
            const { i, f, g, o } = { i: gate.i[n], f: gate.f[n], g: gate.g[n], o: gate.o[n] };
            const dC = dCNext[n] + dH[n] * o * (1 - tanhC[n] * tanhC[n]);
            const dI = dC * g;
            const dF = dC * c[n] - (coupled ? dI : 0);
            dPre.f[j] = dF * f * (1 - f);
            dPre.i[j] = coupled ? 0 : dI * i * (1 - i);
            dPre.g[j] = dC * i * (1 - g * g);
            dPre.o[j] = dH[n] * tanhC[n] * o * (1 - o);
            dCPrev[n] = dC * f;
          }
          const stacked = new Float64Array(G);
          blocks.forEach((k, blk) => stacked.set(dPre[k], blk * H));
          affineBackward(p.wIh, row(x, b, I), 0, G, stacked, grads.dWIh, grads.dBIh, row(dX, b, I));
          affineBackward(p.wHh, row(h, b, H), 0, G, stacked, grads.dWHh, grads.dBHh, row(dHPrev, b, H));
          if (peep) {
            const peepStacked = new Float64Array(P);
            peepBlocks.forEach((k, pk) => peepStacked.set(dPre[k], pk * H));
            affineBackward(p.wCh as Float64Array, row(c, b, H), 0, P, peepStacked, grads.dWCh as Float64Array, scratchBias, row(dCPrev, b, H));
          }
        }
        return { dH: dHPrev, dC: dCPrev };
      },
    };
  };
}
