/** Which recurrent cell a layer uses, with its variant options. */
export type CellConfig =
  | { kind: 'rnn'; activation: 'tanh' | 'relu' }
  | { kind: 'lstm' }
  | { kind: 'gru'; variant: 'reset-after' | 'reset-before' };

export type CellKind = CellConfig['kind'];

/** Gate blocks stacked in the PyTorch weight layout: rnn 1, lstm 4 (i,f,g,o), gru 3 (r,z,n). */
export function gateCount(cell: CellConfig): number {
  switch (cell.kind) {
    case 'rnn':
      return 1;
    case 'lstm':
      return 4;
    case 'gru':
      return 3;
  }
}

/** Whether the cell carries a cell state c besides h (LSTM). */
export function hasCellState(cell: CellConfig): boolean {
  return cell.kind === 'lstm';
}

export function describeCell(cell: CellConfig): string {
  switch (cell.kind) {
    case 'rnn':
      return `rnn(${cell.activation})`;
    case 'lstm':
      return 'lstm';
    case 'gru':
      return `gru(${cell.variant})`;
  }
}
