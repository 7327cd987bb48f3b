import type { CellConfig } from './cell-config';
import type { CellKernel } from './cell-kernel';
import { GruCell } from './gru-cell';
import { LstmCell } from './lstm-cell';
import { LstmVariantCell } from './lstm-variant-cell';
import { RnnCell } from './rnn-cell';

export * from './cell-config';
export type { CellKernel, ForwardResult, BackwardResult, WindowDims, RecurrentWeights } from './cell-kernel';

/** The hand-written window arithmetic for a cell configuration. */
export function cellKernel(cell: CellConfig): CellKernel {
  switch (cell.kind) {
    case 'rnn':
      return new RnnCell(cell.activation);
    case 'lstm':
      return cell.peepholes || cell.coupledGates ? new LstmVariantCell(cell) : new LstmCell();
    case 'gru':
      return new GruCell(cell.variant);
  }
}
