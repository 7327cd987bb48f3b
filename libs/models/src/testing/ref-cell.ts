/**
 * The cells the references cover, and the parameter layout they share.
 *
 * Layout follows PyTorch (`torch.nn.RNN` / `LSTM` / `GRU`), one layer:
 *   wIh [G·H, I] row-major, wHh [G·H, H], bIh [G·H], bHh [G·H],
 * with the G gate blocks stacked along the rows in the order
 *   rnn  (G = 1): the single block
 *   lstm (G = 4): i, f, g, o
 *   gru  (G = 3): r, z, n
 * LSTM variants (reference-f64-lstm-variants.ts): coupledGates drops the i block
 * (G = 3: f, g, o); peepholes add wCh [P·H, H], the C_{t−1} columns of the gates,
 * stacked i, f, o (P = 3) or f, o (P = 2, coupled).
 * Sequences are time-major: x [T, B, I], y [T, B, H]; states h0, c0 [B, H].
 */

/** Which cell, and its one variant switch. */
export type RefCell =
  | { cell: 'rnn'; activation: 'tanh' | 'relu' }
  | { cell: 'lstm'; peepholes?: boolean; coupledGates?: boolean }
  | { cell: 'gru'; variant: 'reset-after' | 'reset-before' };

/** Parameters of one layer, as flat row-major float64 arrays (layout above). */
export interface RefParams {
  wIh: Float64Array;
  wHh: Float64Array;
  bIh: Float64Array;
  bHh: Float64Array;
  /** [P·H, H], peephole lstm only. */
  wCh?: Float64Array;
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

/** The LSTM variants: peepholes, coupled gates, both. */
export const LSTM_VARIANT_CELLS: readonly RefCell[] = [
  { cell: 'lstm', peepholes: true },
  { cell: 'lstm', coupledGates: true },
  { cell: 'lstm', peepholes: true, coupledGates: true },
];

/** Number of gate blocks G stacked in the weight rows. */
export function gateCount(cell: RefCell): number {
  switch (cell.cell) {
    case 'rnn':
      return 1;
    case 'lstm':
      return cell.coupledGates ? 3 : 4;
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
      return ['lstm', ...(cell.peepholes ? ['peepholes'] : []), ...(cell.coupledGates ? ['coupled'] : [])].join('/');
    case 'gru':
      return `gru/${cell.variant}`;
  }
}

/** Number of peephole blocks P in wCh: 3 (i, f, o), 2 (f, o; coupled) or 0 (no wCh). */
export function peepholeCount(cell: RefCell): number {
  if (cell.cell !== 'lstm' || !cell.peepholes) return 0;
  return cell.coupledGates ? 2 : 3;
}
