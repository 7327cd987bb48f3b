/**
 * One truncated-BPTT training step done entirely by the native kernels, on
 * Float32Arrays: embedding gather → X·W_ihᵀ + b_ih (one sgemm) → fused window
 * forward → head + softmax cross-entropy (mean) → fused window BPTT → dW_ih, db_ih,
 * dX (three sgemms) → embedding scatter-add → Adam on every parameter. The state
 * is carried (without gradient) to the next window. Same model and loss as
 * torch_step.py: Embedding(V, E) → LSTM/GRU(E, H) → Linear(H, V).
 */
import { gateBlocks, type NativeCell, type NativeKernels } from '@unroll/kernels-native';

export interface StepDims {
  B: number;
  T: number;
  V: number;
  E: number;
  H: number;
}

function uniform(n: number, bound: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 2 * bound;
  }
  return a;
}

export class NativeStep {
  readonly params: Record<string, Float32Array>;
  private readonly grads: Record<string, Float32Array>;
  private readonly m: Record<string, Float32Array> = {};
  private readonly v: Record<string, Float32Array> = {};
  private t = 0;
  private h0: Float32Array;
  private c0?: Float32Array;
  private readonly G: number;
  // Work arrays, allocated once.
  private readonly x: Float32Array;
  private readonly xProj: Float32Array;
  private readonly logits: Float32Array;
  private readonly dY: Float32Array;
  private readonly dX: Float32Array;
  private readonly ones: Float32Array;
  private readonly zeros: Float32Array;

  constructor(
    private readonly k: NativeKernels,
    private readonly cell: NativeCell,
    private readonly d: StepDims,
  ) {
    const { B, T, V, E, H } = d;
    const G = (this.G = gateBlocks(cell));
    const r = 1 / Math.sqrt(H);
    this.params = {
      emb: uniform(V * E, 0.1, 1),
      wIh: uniform(G * H * E, r, 2),
      wHh: uniform(G * H * H, r, 3),
      bIh: uniform(G * H, r, 4),
      bHh: uniform(G * H, r, 5),
      decW: uniform(V * H, 0.1, 6),
      decB: new Float32Array(V),
    };
    this.grads = Object.fromEntries(Object.entries(this.params).map(([n, p]) => [n, new Float32Array(p.length)]));
    for (const [n, p] of Object.entries(this.params)) {
      this.m[n] = new Float32Array(p.length);
      this.v[n] = new Float32Array(p.length);
    }
    this.h0 = new Float32Array(B * H);
    this.c0 = cell === 'lstm' ? new Float32Array(B * H) : undefined;
    this.x = new Float32Array(T * B * E);
    this.xProj = new Float32Array(T * B * G * H);
    this.logits = new Float32Array(T * B * V);
    this.dY = new Float32Array(T * B * H);
    this.dX = new Float32Array(T * B * E);
    this.ones = new Float32Array(T * B).fill(1);
    this.zeros = new Float32Array(B * H);
  }

  /** ids and targets: T·B token ids, time-major. Returns the mean loss. */
  step(ids: Int32Array, targets: Int32Array): number {
    const { B, T, V, E, H } = this.d;
    const N = T * B;
    const GH = this.G * H;
    const b = this.k.binding;
    const p = this.params;
    const g = this.grads;
    for (let r = 0; r < N; r++) this.x.set(p.emb.subarray(ids[r] * E, (ids[r] + 1) * E), r * E);
    for (let r = 0; r < N; r++) this.xProj.set(p.bIh, r * GH);
    b.sgemm(false, true, N, GH, E, 1, this.x, E, p.wIh, E, 1, this.xProj, GH);
    const dims = { T, B, H };
    const inputs = { xProj: this.xProj, wHh: p.wHh, bHh: p.bHh, h0: this.h0, c0: this.c0 };
    const fwd = this.k.allocForward(this.cell, dims);
    this.k.forward(this.cell, dims, inputs, fwd);
    const loss = b.linearXent(N, H, V, fwd.y, p.decW, p.decB, targets, 1 / N, this.logits, this.dY, g.decW, g.decB);
    const back = this.k.allocBackward(this.cell, dims);
    this.k.backward(this.cell, dims, inputs, fwd, { dY: this.dY, dHT: this.zeros, dCT: this.c0 ? this.zeros : undefined }, back);
    g.wHh.set(back.dWHh);
    g.bHh.set(back.dBHh);
    b.sgemm(true, false, GH, E, N, 1, back.dXProj, GH, this.x, E, 0, g.wIh, E);
    b.sgemm(false, false, 1, GH, N, 1, this.ones, N, back.dXProj, GH, 0, g.bIh, GH);
    b.sgemm(false, false, N, E, GH, 1, back.dXProj, GH, p.wIh, E, 0, this.dX, E);
    g.emb.fill(0);
    for (let r = 0; r < N; r++) {
      const base = ids[r] * E;
      for (let j = 0; j < E; j++) g.emb[base + j] += this.dX[r * E + j];
    }
    this.t++;
    for (const n of Object.keys(p)) b.adam(p[n], g[n], this.m[n], this.v[n], 1e-3, 0.9, 0.999, 1e-8, 0, this.t);
    this.h0 = fwd.y.slice((T - 1) * B * H);
    if (fwd.c) this.c0 = fwd.c.slice((T - 1) * B * H);
    return loss / N;
  }
}

/** Floating-point operations of one step's matrix products (2·m·n·k each). */
export function stepFlops(cell: NativeCell, d: StepDims): number {
  const { B, T, V, E, H } = d;
  const N = T * B;
  const GH = gateBlocks(cell) * H;
  const input = 2 * N * GH * E * 3; // xProj, dW_ih, dX (+ db_ih, negligible)
  const recurrent = 2 * N * GH * H * 3; // per-step h·W_hhᵀ, δ·W_hh, dW_hh
  const head = 2 * N * V * H * 3; // logits, dh, dW_dec
  return input + recurrent + head;
}
