/**
 * Float64 reference step of the GRU cell, gate rows r, z, n, in two variants.
 *
 *   r  = σ(W_ir x + b_ir + W_hr h + b_hr)
 *   z  = σ(W_iz x + b_iz + W_hz h + b_hz)
 *   reset-after  (PyTorch `nn.GRU`, cuDNN):
 *     n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn))
 *   reset-before (Cho et al. 2014, the lecture's form):
 *     n = tanh(W_in x + b_in + W_hn (r⊙h) + b_hn)
 *   h' = (1 − z)⊙n + z⊙h
 * z follows PyTorch: z = 1 keeps the old state. The lecture's z is our 1 − z.
 *
 * Backward, with dh' the total gradient reaching h':
 *   dn = dh'⊙(1 − z),  dz = dh'⊙(h − n),  dh += dh'⊙z
 *   da_n = dn⊙(1 − n²)                      (a_n: the argument of tanh)
 *   reset-after:  dW_in x-part gets da_n; the hidden part u = W_hn h + b_hn gets
 *                 du = da_n⊙r, and dr = da_n⊙u
 *   reset-before: v = r⊙h, the hidden part W_hn v + b_hn gets da_n, giving dv;
 *                 dr = dv⊙h and dh += dv⊙r
 *   da_r = dr⊙r(1 − r),  da_z = dz⊙z(1 − z), each shared by its x- and h-part.
 */
import { affine, affineBackward, row, sigmoid, StepF64 } from './reference-f64-step';

export function gruStepF64(variant: 'reset-after' | 'reset-before'): StepF64 {
  return ({ p, B, I, H }, x, h) => {
    const r = new Float64Array(B * H);
    const z = new Float64Array(B * H);
    const nGate = new Float64Array(B * H);
    // reset-after: u = W_hn h + b_hn; reset-before: v = r⊙h. Each is kept for backward.
    const u = new Float64Array(B * H);
    const v = new Float64Array(B * H);
    const hNext = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      const hb = row(h, b, H);
      const gx = affine(p.wIh, p.bIh, row(x, b, I), 0, 3 * H);
      const ghRZ = affine(p.wHh, p.bHh, hb, 0, 2 * H);
      for (let j = 0; j < H; j++) {
        r[b * H + j] = sigmoid(gx[j] + ghRZ[j]);
        z[b * H + j] = sigmoid(gx[H + j] + ghRZ[H + j]);
      }
      let hiddenN: Float64Array;
      if (variant === 'reset-after') {
        const ub = affine(p.wHh, p.bHh, hb, 2 * H, 3 * H);
        row(u, b, H).set(ub);
        hiddenN = new Float64Array(H);
        for (let j = 0; j < H; j++) hiddenN[j] = r[b * H + j] * ub[j];
      } else {
        const vb = row(v, b, H);
        for (let j = 0; j < H; j++) vb[j] = r[b * H + j] * hb[j];
        hiddenN = affine(p.wHh, p.bHh, vb, 2 * H, 3 * H);
      }
      for (let j = 0; j < H; j++) {
        const n = b * H + j;
        nGate[n] = Math.tanh(gx[2 * H + j] + hiddenN[j]);
        hNext[n] = (1 - z[n]) * nGate[n] + z[n] * hb[j];
      }
    }
    return {
      h: hNext,
      backward(dH, _dC, dX, g) {
        const dHPrev = new Float64Array(B * H);
        for (let b = 0; b < B; b++) {
          const hb = row(h, b, H);
          const dHPrevB = row(dHPrev, b, H);
          const dGx = new Float64Array(3 * H);
          const dGhRZ = new Float64Array(2 * H);
          const dAn = new Float64Array(H);
          const dZ = new Float64Array(H);
          for (let j = 0; j < H; j++) {
            const n = b * H + j;
            const dN = dH[n] * (1 - z[n]);
            dZ[j] = dH[n] * (hb[j] - nGate[n]);
            dHPrevB[j] += dH[n] * z[n];
            dAn[j] = dN * (1 - nGate[n] * nGate[n]);
            dGx[2 * H + j] = dAn[j];
          }
          const dR = new Float64Array(H);
          if (variant === 'reset-after') {
            const dU = new Float64Array(H);
            for (let j = 0; j < H; j++) {
              dU[j] = dAn[j] * r[b * H + j];
              dR[j] = dAn[j] * u[b * H + j];
            }
            affineBackward(p.wHh, hb, 2 * H, 3 * H, dU, g.dWHh, g.dBHh, dHPrevB);
          } else {
            const dV = new Float64Array(H);
            affineBackward(p.wHh, row(v, b, H), 2 * H, 3 * H, dAn, g.dWHh, g.dBHh, dV);
            for (let j = 0; j < H; j++) {
              dR[j] = dV[j] * hb[j];
              dHPrevB[j] += dV[j] * r[b * H + j];
            }
          }
          for (let j = 0; j < H; j++) {
            const n = b * H + j;
            const dAr = dR[j] * r[n] * (1 - r[n]);
            const dAz = dZ[j] * z[n] * (1 - z[n]);
            dGx[j] = dAr;
            dGx[H + j] = dAz;
            dGhRZ[j] = dAr;
            dGhRZ[H + j] = dAz;
          }
          affineBackward(p.wIh, row(x, b, I), 0, 3 * H, dGx, g.dWIh, g.dBIh, row(dX, b, I));
          affineBackward(p.wHh, hb, 0, 2 * H, dGhRZ, g.dWHh, g.dBHh, dHPrevB);
        }
        return { dH: dHPrev };
      },
    };
  };
}
