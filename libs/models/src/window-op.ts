/**
 * One recurrent layer over a whole TBPTT window as ONE differentiable operation.
 *
 * Forward: xProj = X·W_ihᵀ + b_ih for all T·B rows in one product, then the cell's
 * time loop (one recurrent product per step). Backward (tf.customGrad): the cell's
 * hand-written BPTT loop, then dX = ∂L/∂xProj · W_ih, dW_ih = ∂L/∂xProjᵀ · X and
 * db_ih = Σ ∂L/∂xProj — the weight gradients of all timesteps in one large product
 * each — instead of thousands of small taped ops.
 *
 * tf.customGrad returns one tensor, so the op returns them packed along time:
 * rows 0..T−1 are y, row T is h_T and (LSTM) row T+1 is C_T. `recurrentLayer`
 * unpacks them; gradients reaching any of the three flow back correctly.
 *
 * The state after step `carryAt` — where the next TBPTT window begins — is handed
 * back as plain arrays: TBPTT carries it across windows without gradient.
 */
import { tf } from './tf';
import { cellKernel, describeCell, gateCount, hasCellState, peepholeCount, type CellConfig } from './cells';
import { columnSums, type BackwardResult, type ForwardResult } from './cells/cell-kernel';
import { gemmInto } from './conv/scratch';
import { TfGemm, type Gemm } from './gemm';
import { windowBuffers } from './window-buffers';
import type { WindowKernel } from './kernel';

export interface LayerWeights {
  wIh: tf.Tensor2D;
  wHh: tf.Tensor2D;
  bIh: tf.Tensor1D;
  bHh: tf.Tensor1D;
  /** W_ch [P·H, H], peephole LSTM only (lstm-variant-cell.ts). */
  wCh?: tf.Tensor2D;
}

export interface HiddenState {
  /** [B, H] */
  h: Float32Array;
  /** [B, H], LSTM only. */
  c?: Float32Array;
}

export interface WindowOptions {
  /** Step (0-based) whose state is returned as `carry`. @defaultValue T − 1 (the window's end) */
  carryAt?: number;
  /** Receives ‖∂L/∂h_t‖ for t = 0..T−1 when the backward pass runs. */
  onFlow?: (flow: Float64Array) => void;
  /** Matrix products. @defaultValue the kernel's, else a TfGemm on the active backend */
  gemm?: Gemm;
  /** Who runs the window (see kernel.ts, selectKernel). @defaultValue the tfjs path */
  kernel?: WindowKernel;
}

export interface LayerOutput {
  /** [T, B, H] */
  y: tf.Tensor3D;
  /** [B, H] */
  hT: tf.Tensor2D;
  cT?: tf.Tensor2D;
  /** The state after step carryAt, detached. */
  carry: HiddenState;
}

export class WindowShapeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'WindowShapeError';
  }
}

function readF32(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/** xProj = X·W_ihᵀ + b_ih on the tfjs backend. */
function projectOnTf(xs: tf.Tensor, wIh: tf.Tensor, bIh: tf.Tensor, rows: number, I: number): Float32Array {
  return readF32(tf.tidy(() => tf.add(tf.matMul(tf.reshape(xs, [rows, I]), tf.transpose(wIh)), bIh)));
}

/** xProj = X·W_ihᵀ + b_ih through a Gemm (one product for the whole window), into a work array of the window pool. */
function projectInput(gemm: Gemm, x: Float32Array, rows: number, wIh: Float32Array, gh: number, I: number, bIh: Float32Array): Float32Array {
  const wT = gemm.matrix(wIh, gh, I, true);
  const xProj = windowBuffers.take(rows * gh);
  gemmInto(gemm, x, rows, wT, xProj);
  gemm.release(wT);
  for (let r = 0; r < rows; r++) {
    const base = r * gh;
    for (let j = 0; j < gh; j++) xProj[base + j] += bIh[j];
  }
  return xProj;
}

export interface InitialState {
  /** [B, H] */
  h: tf.Tensor2D;
  /** [B, H], LSTM only. */
  c?: tf.Tensor2D;
}

export function recurrentLayer(cell: CellConfig, w: LayerWeights, x: tf.Tensor3D, initial: InitialState, opts: WindowOptions = {}): LayerOutput {
  const [T, B, I] = x.shape;
  const G = gateCount(cell);
  const P = peepholeCount(cell);
  const [gh, H] = w.wHh.shape;
  if (gh !== G * H || w.wIh.shape[0] !== G * H || w.wIh.shape[1] !== I) {
    throw new WindowShapeError(`${cell.kind} layer expects W_ih [${G}·H, ${I}] and W_hh [${G}·H, H], got W_ih [${w.wIh.shape}] and W_hh [${w.wHh.shape}]`);
  }
  if (P > 0 && (w.wCh?.shape[0] !== P * H || w.wCh?.shape[1] !== H)) {
    throw new WindowShapeError(`peephole LSTM layer expects W_ch [${P}·H, H] = [${P * H}, ${H}], got ${w.wCh ? `[${w.wCh.shape}]` : 'none'}`);
  }
  if (P === 0 && w.wCh) throw new WindowShapeError(`${describeCell(cell)} layer has no peepholes, got W_ch [${w.wCh.shape}]`);
  if (initial.h.size !== B * H) throw new WindowShapeError(`initial h must be [B, H] = [${B}, ${H}], got [${initial.h.shape}]`);
  const withC = hasCellState(cell);
  if (withC && initial.c?.size !== B * H) throw new WindowShapeError(`LSTM initial c must be [B, H] = [${B}, ${H}], got ${initial.c ? `[${initial.c.shape}]` : 'none'}`);
  const carryAt = opts.carryAt ?? T - 1;
  if (!Number.isInteger(carryAt) || carryAt < 0 || carryAt >= T) throw new WindowShapeError(`carryAt must be a step in [0, ${T - 1}], got ${carryAt}`);
  const kernel = opts.kernel ? opts.kernel.cell(cell) : cellKernel(cell);
  const gemm = opts.gemm ?? opts.kernel?.gemm ?? new TfGemm();
  // Native: the input projection and its gradients are BLAS products on the arrays too.
  const projectWithGemm = opts.kernel?.projectWithGemm ?? false;
  const dims = { T, B, H };
  let carry: HiddenState | undefined;
  // Operands, in order: x, W_ih, W_hh, b_ih, b_hh, h0, then c0 (LSTM), then W_ch (peepholes).
  const nInputs = 6 + (withC ? 1 : 0) + (P > 0 ? 1 : 0);

  const op = tf.customGrad((...args) => {
    const [xs, wIh, wHh, bIh, bHh, h0] = args.slice(0, 6) as tf.Tensor[];
    const c0 = withC ? (args[6] as tf.Tensor) : undefined;
    const wCh = P > 0 ? (args[nInputs - 1] as tf.Tensor) : undefined;
    const save = args[nInputs] as tf.GradSaveFunc;
    save([xs, wIh]);
    const xProj = projectWithGemm ? projectInput(gemm, readF32(xs), T * B, readF32(wIh), G * H, I, readF32(bIh)) : projectOnTf(xs, wIh, bIh, T * B, I);
    const rw = { wHh: readF32(wHh), bHh: readF32(bHh), wCh: wCh ? readF32(wCh) : undefined };
    const fwd: ForwardResult = kernel.forward(gemm, dims, rw, xProj, readF32(h0), c0 ? readF32(c0) : undefined, carryAt);
    carry = { h: fwd.hCarry, c: fwd.cCarry };
    const rows = T + 1 + (withC ? 1 : 0);
    const packed = new Float32Array(rows * B * H);
    packed.set(fwd.y, 0);
    packed.set(fwd.hT, T * B * H);
    if (withC) packed.set(fwd.cT as Float32Array, (T + 1) * B * H);
    const value = tf.tensor3d(packed, [rows, B, H]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [xSaved, wIhSaved] = saved;
      const d = readF32(dy);
      const n = B * H;
      const back: BackwardResult = kernel.backward(
        gemm,
        dims,
        rw,
        fwd.saved,
        d.subarray(0, T * n),
        d.subarray(T * n, (T + 1) * n),
        withC ? d.subarray((T + 1) * n, (T + 2) * n) : undefined,
      );
      opts.onFlow?.(back.flow);
      // Gradients of the state operands, in operand order after h0.
      const stateGrads = (): tf.Tensor[] => [
        ...(withC ? [tf.tensor2d(back.dC0 as Float32Array, [B, H])] : []),
        ...(P > 0 ? [tf.tensor2d(back.dWCh as Float32Array, [P * H, H])] : []),
      ];
      // The window's work arrays go back to the pool once nothing reads them (the tidy below disposed its dPre tensor).
      const release = (): void => {
        kernel.release?.(fwd.saved, back);
        if (projectWithGemm) windowBuffers.give(xProj);
      };
      if (projectWithGemm) {
        const wI = gemm.matrix(readF32(wIhSaved), G * H, I);
        const dX = gemm.mul(back.dXProj, T * B, wI);
        gemm.release(wI);
        const dWIh = gemm.mulTN(back.dXProj, T * B, G * H, readF32(xSaved), I);
        const grads = [
          tf.tensor3d(dX, [T, B, I]),
          tf.tensor2d(dWIh, [G * H, I]),
          tf.tensor2d(back.dWHh, [G * H, H]),
          tf.tensor1d(columnSums(back.dXProj, T * B, G * H)),
          tf.tensor1d(back.dBHh),
          tf.tensor2d(back.dH0, [B, H]),
          ...stateGrads(),
        ];
        release();
        return grads;
      }
      const grads = tf.tidy(() => {
        const dPre = tf.tensor2d(back.dXProj, [T * B, G * H]);
        const dX = tf.reshape(tf.matMul(dPre, wIhSaved), [T, B, I]);
        const dWIh = tf.matMul(tf.transpose(dPre), tf.reshape(xSaved, [T * B, I]));
        const dBIh = tf.sum(dPre, 0);
        return [dX, dWIh, tf.tensor2d(back.dWHh, [G * H, H]), dBIh, tf.tensor1d(back.dBHh), tf.tensor2d(back.dH0, [B, H]), ...stateGrads()];
      });
      release();
      return grads;
    };
    return { value, gradFunc };
  });

  const inputs: tf.Tensor[] = [x, w.wIh, w.wHh, w.bIh, w.bHh, initial.h];
  if (withC) inputs.push(initial.c as tf.Tensor2D);
  if (P > 0) inputs.push(w.wCh as tf.Tensor2D);
  const packed = op(...inputs) as tf.Tensor3D;
  const out = tf.tidy(() => {
    const parts = tf.split(packed, withC ? [T, 1, 1] : [T, 1], 0);
    return {
      y: parts[0] as tf.Tensor3D,
      hT: tf.reshape(parts[1], [B, H]) as tf.Tensor2D,
      cT: withC ? (tf.reshape(parts[2], [B, H]) as tf.Tensor2D) : undefined,
    };
  });
  packed.dispose();
  return { ...out, carry: carry as HiddenState };
}
