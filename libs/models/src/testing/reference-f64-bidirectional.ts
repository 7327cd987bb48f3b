/**
 * Float64 reference of a deep (bidirectional) recurrent network, written from the
 * lecture's equations with plain loops over time in both directions — no reversal
 * of tensors, no fused op — as an independent check of RecurrentNetwork:
 *
 *   s^f(l)_t = f(U^f(l) [s^f(l−1)_t, s^b(l−1)_t] + W^f(l) s^f(l)_{t−1} + b^f(l))   t = 0 … T−1
 *   s^b(l)_t = f(U^b(l) [s^f(l−1)_t, s^b(l−1)_t] + W^b(l) s^b(l)_{t+1} + b^b(l))   t = T−1 … 0
 *   layer 0 reads x_t; the output of layer l at t is [s^f(l)_t, s^b(l)_t] ([T, B, 2H]).
 * A unidirectional network is the same with the b direction left out. Every
 * direction starts from a zero state (h, and c for an LSTM): s^f_{−1} = s^b_T = 0.
 *
 * Backward gives the gradients of L = Σ dTop ⊙ top: per layer from the top, each
 * direction's BPTT runs against its own time order (the backward direction's from
 * t = 0 up), and the input gradients of both directions add into the layer below.
 */
import { RefCell, RefParams } from './ref-cell';
import { stepFor } from './reference-f64';
import { RefParamGrads, StepResult } from './reference-f64-step';

export interface DeepRefDims {
  T: number;
  B: number;
  /** Input features of layer 0. */
  I: number;
  H: number;
}

export interface DeepRefForward {
  /** [T, B, D·H] */
  top: Float64Array;
}

export interface DeepRefBackward extends DeepRefForward {
  /** [T, B, I] */
  dX: Float64Array;
  /** grads[l][d]: layer l, direction d (0 forward, 1 backward). */
  grads: RefParamGrads[][];
}

interface LayerRun {
  x: Float64Array;
  I: number;
  /** steps[d][t] */
  steps: StepResult[][];
}

function run(cell: RefCell, params: RefParams[][], d: DeepRefDims, x: Float64Array): { top: Float64Array; layers: LayerRun[] } {
  const { T, B, H } = d;
  const D = params[0].length;
  const step = stepFor(cell);
  const lstm = cell.cell === 'lstm';
  const layers: LayerRun[] = [];
  let input: Float64Array = x;
  let I = d.I;
  for (const layer of params) {
    if (layer.length !== D) throw new Error(`reference: every layer needs ${D} directions, got ${layer.length}`);
    const out = new Float64Array(T * B * D * H);
    const steps: StepResult[][] = [];
    for (let dir = 0; dir < D; dir++) {
      const ctx = { p: layer[dir], B, I, H };
      let h: Float64Array = new Float64Array(B * H);
      let c: Float64Array | undefined = lstm ? new Float64Array(B * H) : undefined;
      const byTime: StepResult[] = new Array(T);
      for (let k = 0; k < T; k++) {
        const t = dir === 0 ? k : T - 1 - k;
        const s = step(ctx, input.subarray(t * B * I, (t + 1) * B * I), h, c);
        byTime[t] = s;
        for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) out[(t * B + b) * D * H + dir * H + j] = s.h[b * H + j];
        h = s.h;
        c = s.c;
      }
      steps.push(byTime);
    }
    layers.push({ x: input, I, steps });
    input = out;
    I = D * H;
  }
  return { top: input, layers };
}

/** Output of the top layer, [T, B, D·H]; params[l][d] are layer l's direction d. */
export function referenceDeepForward(cell: RefCell, params: RefParams[][], d: DeepRefDims, x: Float64Array): DeepRefForward {
  return { top: run(cell, params, d, x).top };
}

/** Forward plus BPTT of L = Σ dTop ⊙ top through every layer and direction. */
export function referenceDeepBackward(cell: RefCell, params: RefParams[][], d: DeepRefDims, x: Float64Array, dTop: Float64Array): DeepRefBackward {
  const { T, B, H } = d;
  const D = params[0].length;
  const { top, layers } = run(cell, params, d, x);
  if (dTop.length !== top.length) throw new Error(`reference: dTop must have [T, B, D·H] = ${top.length} elements, got ${dTop.length}`);
  const lstm = cell.cell === 'lstm';
  const grads: RefParamGrads[][] = params.map((layer) =>
    layer.map((p) => ({
      dWIh: new Float64Array(p.wIh.length),
      dWHh: new Float64Array(p.wHh.length),
      dBIh: new Float64Array(p.bIh.length),
      dBHh: new Float64Array(p.bHh.length),
      ...(p.wCh ? { dWCh: new Float64Array(p.wCh.length) } : {}),
    })),
  );
  let dOut: Float64Array = dTop;
  for (let l = layers.length - 1; l >= 0; l--) {
    const { I, steps } = layers[l];
    const dIn = new Float64Array(T * B * I);
    for (let dir = 0; dir < D; dir++) {
      let dH: Float64Array = new Float64Array(B * H);
      let dC: Float64Array | undefined = lstm ? new Float64Array(B * H) : undefined;
      // Against the direction's own time order: forward from T−1 down, backward from 0 up.
      for (let k = 0; k < T; k++) {
        const t = dir === 0 ? T - 1 - k : k;
        for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) dH[b * H + j] += dOut[(t * B + b) * D * H + dir * H + j];
        const back = steps[dir][t].backward(dH, dC, dIn.subarray(t * B * I, (t + 1) * B * I), grads[l][dir]);
        dH = back.dH;
        dC = back.dC;
      }
    }
    dOut = dIn;
  }
  return { top, dX: dOut, grads };
}
