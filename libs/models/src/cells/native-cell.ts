/**
 * A CellKernel whose whole window — forward time loop and BPTT — runs in the
 * native kernels (libs/kernels-native), on the arrays the window op hands it.
 * Same equations as rnn-cell.ts, lstm-cell.ts and gru-cell.ts; the Gemm argument
 * is unused (the kernels call BLAS themselves).
 *
 * The forward's outputs and the backward's dXProj are work arrays of the window pool
 * (window-buffers.ts), handed back by release() once the window's backward is done:
 * the next window at the same shapes reuses them instead of ~8 MB of fresh arrays
 * (page faults and garbage collections) per layer.
 */
import type { NativeCell, NativeForwardInputs, NativeForwardOutputs, NativeKernels } from '@unroll/kernels-native';
import type { CellConfig } from './cell-config';
import type { BackwardResult, CellKernel, ForwardResult, RecurrentWeights, WindowDims } from './cell-kernel';
import { windowBuffers } from '../window-buffers';

interface NativeSaved {
  inputs: NativeForwardInputs;
  out: NativeForwardOutputs;
}

export function nativeCellName(cell: CellConfig): NativeCell {
  switch (cell.kind) {
    case 'rnn':
      return cell.activation === 'tanh' ? 'rnn-tanh' : 'rnn-relu';
    case 'lstm':
      return 'lstm';
    case 'gru':
      return cell.variant === 'reset-after' ? 'gru-reset-after' : 'gru-reset-before';
  }
}

export class NativeCellKernel implements CellKernel {
  private readonly cell: NativeCell;

  constructor(
    private readonly kernels: NativeKernels,
    cell: CellConfig,
  ) {
    this.cell = nativeCellName(cell);
  }

  forward(_gemm: unknown, d: WindowDims, w: RecurrentWeights, xProj: Float32Array, h0: Float32Array, c0: Float32Array | undefined, carryAt: number): ForwardResult {
    const n = d.B * d.H;
    const inputs: NativeForwardInputs = { xProj, wHh: w.wHh, bHh: w.bHh, h0, c0 };
    // The kernels write every value of y, c and saved: arrays of an earlier window serve as they are.
    const out = this.kernels.allocForward(this.cell, d, (length) => windowBuffers.take(length));
    this.kernels.forward(this.cell, d, inputs, out);
    const { y, c } = out;
    return {
      y,
      hT: y.slice((d.T - 1) * n),
      cT: c?.slice((d.T - 1) * n),
      hCarry: y.slice(carryAt * n, (carryAt + 1) * n),
      cCarry: c?.slice(carryAt * n, (carryAt + 1) * n),
      saved: { inputs, out } satisfies NativeSaved,
    };
  }

  backward(_gemm: unknown, d: WindowDims, _w: RecurrentWeights, saved: unknown, dY: Float32Array, dHT: Float32Array, dCT: Float32Array | undefined): BackwardResult {
    const { inputs, out } = saved as NativeSaved;
    // dXProj (every value written) is a work array; the weight and state gradients go on into tensors and are fresh.
    const back = this.kernels.allocBackward(this.cell, d, (length) => windowBuffers.take(length));
    this.kernels.backward(this.cell, d, inputs, out, { dY, dHT, dCT }, back);
    return { dXProj: back.dXProj, dWHh: back.dWHh, dBHh: back.dBHh, dH0: back.dH0, dC0: back.dC0, flow: back.flow };
  }

  release(saved: unknown, back: BackwardResult): void {
    const { out } = saved as NativeSaved;
    windowBuffers.give(out.y, ...(out.c ? [out.c] : []), ...(out.saved ? [out.saved] : []), back.dXProj);
  }
}
