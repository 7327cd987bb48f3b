/**
 * Float64 reference for a whole window of one recurrent layer: forward, and full
 * backpropagation through time, written from the cell equations with plain loops.
 *
 * It is deliberately simple — no tfjs, no fused matrices, no reuse of buffers — so
 * that it is an independent check for the fused window ops and for the tfjs-taped
 * reference (taped-tf.ts). Its own backward is checked against central finite
 * differences of its forward (reference-f64.spec.ts).
 *
 * The cell equations live in reference-f64-rnn.ts, -lstm.ts and -gru.ts; the
 * parameter layout in ref-cell.ts.
 *
 * Backward computes the gradients of the scalar
 *   L = Σ dY⊙y + Σ dHT⊙hT + Σ dCT⊙cT
 * i.e. dY, dHT and dCT are the upstream gradients of the window's outputs.
 * Protocol:
 *   1. run the forward, keeping each step's StepResult;
 *   2. start with dh = dHT and (lstm) dc = dCT;
 *   3. for t = T−1 … 0: dh += dY[t]; the step's backward adds dx_t and the
 *      parameter gradients and returns dh, dc for step t−1;
 *   4. what is left in dh, dc are dH0, dC0.
 */
import { gateCount, peepholeCount, RefCell, RefDims, RefParams } from './ref-cell';
import { gruStepF64 } from './reference-f64-gru';
import { lstmStepF64 } from './reference-f64-lstm';
import { lstmVariantStepF64 } from './reference-f64-lstm-variants';
import { rnnStepF64 } from './reference-f64-rnn';
import { RefParamGrads, StepF64, StepResult } from './reference-f64-step';

export type { RefCell, RefDims, RefParams } from './ref-cell';
export type { RefParamGrads } from './reference-f64-step';

/** Outputs of a window: y [T, B, H], hT [B, H], cT [B, H] (lstm only). */
export interface RefForward {
  y: Float64Array;
  hT: Float64Array;
  cT?: Float64Array;
}

/** Outputs of a window and the gradients of L with respect to every input. */
export interface RefBackward extends RefForward, RefParamGrads {
  /** [T, B, I] */
  dX: Float64Array;
  /** [B, H] */
  dH0: Float64Array;
  /** [B, H], lstm only */
  dC0?: Float64Array;
}

/** The float64 step of a cell (the per-cell equations). */
export function stepFor(cell: RefCell): StepF64 {
  switch (cell.cell) {
    case 'rnn':
      return rnnStepF64(cell.activation);
    case 'lstm':
      return cell.peepholes || cell.coupledGates ? lstmVariantStepF64(cell) : lstmStepF64;
    case 'gru':
      return gruStepF64(cell.variant);
  }
}

function expectLength(name: string, a: Float64Array, shape: string, n: number): void {
  if (a.length !== n) throw new Error(`reference: ${name} must have ${shape} = ${n} elements, got ${a.length}`);
}

function validate(cell: RefCell, p: RefParams, d: RefDims, x: Float64Array, h0: Float64Array, c0: Float64Array | undefined): void {
  const { T, B, I, H } = d;
  for (const [name, value] of Object.entries(d)) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`reference: dims.${name} must be a positive integer, got ${value}`);
  }
  const rows = gateCount(cell) * H;
  expectLength('wIh', p.wIh, `[G·H, I] = [${rows}, ${I}]`, rows * I);
  expectLength('wHh', p.wHh, `[G·H, H] = [${rows}, ${H}]`, rows * H);
  expectLength('bIh', p.bIh, `[G·H] = [${rows}]`, rows);
  expectLength('bHh', p.bHh, `[G·H] = [${rows}]`, rows);
  const P = peepholeCount(cell);
  if (P > 0) expectLength('wCh', p.wCh ?? new Float64Array(0), `[P·H, H] = [${P * H}, ${H}]`, P * H * H);
  else if (p.wCh !== undefined) throw new Error('reference: wCh is only meaningful for a peephole lstm');
  expectLength('x', x, `[T, B, I] = [${T}, ${B}, ${I}]`, T * B * I);
  expectLength('h0', h0, `[B, H] = [${B}, ${H}]`, B * H);
  if (c0 !== undefined) {
    if (cell.cell !== 'lstm') throw new Error(`reference: c0 is only meaningful for lstm, got one for ${cell.cell}`);
    expectLength('c0', c0, `[B, H] = [${B}, ${H}]`, B * H);
  }
}

function runWindow(
  cell: RefCell,
  p: RefParams,
  d: RefDims,
  x: Float64Array,
  h0: Float64Array,
  c0: Float64Array | undefined,
): RefForward & { steps: StepResult[] } {
  validate(cell, p, d, x, h0, c0);
  const { T, B, I, H } = d;
  const step = stepFor(cell);
  const ctx = { p, B, I, H };
  const y = new Float64Array(T * B * H);
  const steps: StepResult[] = [];
  let h = h0;
  // PyTorch's default: a missing lstm c0 is zeros.
  let c = cell.cell === 'lstm' ? (c0 ?? new Float64Array(B * H)) : undefined;
  for (let t = 0; t < T; t++) {
    const s = step(ctx, x.subarray(t * B * I, (t + 1) * B * I), h, c);
    steps.push(s);
    y.set(s.h, t * B * H);
    h = s.h;
    c = s.c;
  }
  const hT = Float64Array.from(h);
  return c === undefined ? { y, hT, steps } : { y, hT, cT: Float64Array.from(c), steps };
}

/**
 * Runs the cell over the window x [T, B, I] from h0 (and c0 for lstm; zeros when
 * omitted). Returns y [T, B, H], hT, and cT for lstm.
 */
export function referenceForward(
  cell: RefCell,
  p: RefParams,
  d: RefDims,
  x: Float64Array,
  h0: Float64Array,
  c0?: Float64Array,
): RefForward {
  const { y, hT, cT } = runWindow(cell, p, d, x, h0, c0);
  return cT === undefined ? { y, hT } : { y, hT, cT };
}

/**
 * Forward plus full BPTT over the window: the gradients of
 * L = Σ dY⊙y + Σ dHT⊙hT + Σ dCT⊙cT with respect to x, h0, c0 and the parameters.
 * dY is [T, B, H]; dHT and dCT are [B, H]; dCT (lstm only) defaults to zeros.
 */
export function referenceBackward(
  cell: RefCell,
  p: RefParams,
  d: RefDims,
  x: Float64Array,
  h0: Float64Array,
  c0: Float64Array | undefined,
  dY: Float64Array,
  dHT: Float64Array,
  dCT?: Float64Array,
): RefBackward {
  const { T, B, I, H } = d;
  const fwd = runWindow(cell, p, d, x, h0, c0);
  expectLength('dY', dY, `[T, B, H] = [${T}, ${B}, ${H}]`, T * B * H);
  expectLength('dHT', dHT, `[B, H] = [${B}, ${H}]`, B * H);
  if (dCT !== undefined) {
    if (cell.cell !== 'lstm') throw new Error(`reference: dCT is only meaningful for lstm, got one for ${cell.cell}`);
    expectLength('dCT', dCT, `[B, H] = [${B}, ${H}]`, B * H);
  }
  const grads: RefParamGrads = {
    dWIh: new Float64Array(p.wIh.length),
    dWHh: new Float64Array(p.wHh.length),
    dBIh: new Float64Array(p.bIh.length),
    dBHh: new Float64Array(p.bHh.length),
  };
  if (p.wCh !== undefined) grads.dWCh = new Float64Array(p.wCh.length);
  const dX = new Float64Array(T * B * I);
  let dH: Float64Array = Float64Array.from(dHT);
  let dC: Float64Array | undefined;
  if (cell.cell === 'lstm') dC = dCT === undefined ? new Float64Array(B * H) : Float64Array.from(dCT);
  for (let t = T - 1; t >= 0; t--) {
    for (let k = 0; k < B * H; k++) dH[k] += dY[t * B * H + k];
    const back = fwd.steps[t].backward(dH, dC, dX.subarray(t * B * I, (t + 1) * B * I), grads);
    dH = back.dH;
    dC = back.dC;
  }
  const out: RefBackward = { y: fwd.y, hT: fwd.hT, dX, dH0: dH, ...grads };
  if (fwd.cT !== undefined) out.cT = fwd.cT;
  if (dC !== undefined) out.dC0 = dC;
  return out;
}
