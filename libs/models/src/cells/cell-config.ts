/**
 * Which recurrent cell a layer uses, with its variant options.
 *
 * LSTM variants (the lecture's "Variants on LSTM"; both default to false, the
 * plain cell of nn.LSTM):
 *   peepholes     every gate also reads the previous cell state, the lecture's
 *                 f_t = σ(W_f·[C_{t−1}, h_{t−1}, x_t] + b_f) and likewise i_t, o_t;
 *                 the C_{t−1} columns of those W are the extra matrix weight_ch
 *   coupledGates  the input gate is 1 − f_t: C_t = f_t ⊙ C_{t−1} + (1 − f_t) ⊙ C̃_t;
 *                 the i rows disappear from the weights (gate blocks f, g, o)
 * See lstm-variant-cell.ts for the equations and the parameter layout.
 */
export type CellConfig =
  | { kind: 'rnn'; activation: 'tanh' | 'relu' }
  | {
      kind: 'lstm';
      /** Gates read C_{t−1} (weight_ch). @defaultValue false — nn.LSTM's cell */
      peepholes?: boolean;
      /** Input gate = 1 − forget gate. @defaultValue false — nn.LSTM's cell */
      coupledGates?: boolean;
    }
  | { kind: 'gru'; variant: 'reset-after' | 'reset-before' };

export type CellKind = CellConfig['kind'];

/** Whether the cell is an LSTM with peepholes or coupled gates (no native kernel, no PyTorch module). */
export function isLstmVariant(cell: CellConfig): boolean {
  return cell.kind === 'lstm' && (cell.peepholes === true || cell.coupledGates === true);
}

/**
 * Gate blocks stacked in the weight layout: rnn 1, lstm 4 (i,f,g,o; PyTorch's
 * order), coupled lstm 3 (f,g,o), gru 3 (r,z,n).
 */
export function gateCount(cell: CellConfig): number {
  switch (cell.kind) {
    case 'rnn':
      return 1;
    case 'lstm':
      return cell.coupledGates ? 3 : 4;
    case 'gru':
      return 3;
  }
}

/**
 * Gate blocks that read C_{t−1} through weight_ch: 3 (i,f,o) for a peephole LSTM,
 * 2 (f,o) when the gates are coupled too, else 0 (no weight_ch).
 */
export function peepholeCount(cell: CellConfig): number {
  if (cell.kind !== 'lstm' || !cell.peepholes) return 0;
  return cell.coupledGates ? 2 : 3;
}

/** Whether the cell carries a cell state c besides h (LSTM). */
export function hasCellState(cell: CellConfig): boolean {
  return cell.kind === 'lstm';
}

export function describeCell(cell: CellConfig): string {
  switch (cell.kind) {
    case 'rnn':
      return `rnn(${cell.activation})`;
    case 'lstm': {
      const variants = [...(cell.peepholes ? ['peepholes'] : []), ...(cell.coupledGates ? ['coupled gates'] : [])];
      return variants.length ? `lstm(${variants.join(', ')})` : 'lstm';
    }
    case 'gru':
      return `gru(${cell.variant})`;
  }
}
