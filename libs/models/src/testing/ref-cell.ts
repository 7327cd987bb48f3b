/**
 * The cells the references cover, and the parameter layout they share.
 *
 * Layout follows PyTorch (`torch.nn.RNN` / `LSTM` / `GRU`), one layer:
 *   wIh [G·H, I] row-major, wHh [G·H, H], bIh [G·H], bHh [G·H],
 * with the G gate blocks stacked along the rows in the order
 *   rnn  (G = 1): the single block
 *   lstm (G = 4): i, f, g, o
 *   gru  (G = 3): r, z, n
 * Sequences are time-major: x [T, B, I], y [T, B, H]; states h0, c0 [B, H].
 */

/** Which cell, and its one variant switch. */
export type RefCell =
  | { cell: 'rnn'; activation: 'tanh' | 'relu' }
  | { cell: 'lstm' }
  | { cell: 'gru'; variant: 'reset-after' | 'reset-before' };

/** Parameters of one layer, as flat row-major float64 arrays (layout above). */
export interface RefParams {
  wIh: Float64Array;
  wHh: Float64Array;
  bIh: Float64Array;
  bHh: Float64Array;
}

/** T time steps, B batch rows, I input features, H hidden units. */
export interface RefDims {
  T: number;
  B: number;
  I: number;
  H: number;
}

/** Every cell configuration, for tests that sweep them all. */
export const ALL_REF_CELLS: readonly RefCell[] = [
  { cell: 'rnn', activation: 'tanh' },
  { cell: 'rnn', activation: 'relu' },
  { cell: 'lstm' },
  { cell: 'gru', variant: 'reset-after' },
  { cell: 'gru', variant: 'reset-before' },
];

/** Number of gate blocks G stacked in the weight rows. */
export function gateCount(cell: RefCell): number {
  switch (cell.cell) {
    case 'rnn':
      return 1;
    case 'lstm':
      return 4;
    case 'gru':
      return 3;
  }
}

/** A short readable name, e.g. "rnn/tanh", "gru/reset-before" (for test titles). */
export function refCellName(cell: RefCell): string {
  switch (cell.cell) {
    case 'rnn':
      return `rnn/${cell.activation}`;
    case 'lstm':
      return 'lstm';
    case 'gru':
      return `gru/${cell.variant}`;
  }
}
