/**
 * How a network's hidden state is laid out in the HiddenStateStore: one
 * Float32Array per tensor, layer by layer, h before c —
 *
 *   [h_l0, c_l0, h_l1, c_l1, …]   LSTM (every layer has a cell state)
 *   [h_l0, h_l1, …]               RNN, GRU
 *
 * each [B, H] row-major for the B streams of the group. Only workers read and write
 * these values (window jobs and the checkpoint writer), so the layout is theirs.
 */
import type { NetworkState } from '@unroll/models';

export class HiddenStateLayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HiddenStateLayoutError';
  }
}

export function packState(state: NetworkState): Float32Array[] {
  const out: Float32Array[] = [];
  for (const layer of state) {
    out.push(layer.h);
    if (layer.c) out.push(layer.c);
  }
  return out;
}

/** The inverse of packState for a network of `layers` layers, with or without cell states, over `streams` streams of width `hidden`. */
export function unpackState(tensors: readonly Float32Array[], shape: { layers: number; hidden: number; withCell: boolean; streams: number }, what: string): NetworkState {
  const perLayer = shape.withCell ? 2 : 1;
  const n = shape.streams * shape.hidden;
  if (tensors.length !== shape.layers * perLayer) {
    throw new HiddenStateLayoutError(`${what} holds ${tensors.length} tensors, expected ${shape.layers * perLayer} (${shape.layers} layers × ${shape.withCell ? 'h, c' : 'h'})`);
  }
  tensors.forEach((t, i) => {
    if (t.length !== n) throw new HiddenStateLayoutError(`${what}: tensor ${i} has ${t.length} values, expected ${shape.streams} streams × ${shape.hidden} = ${n}`);
  });
  return Array.from({ length: shape.layers }, (_, k) => ({ h: tensors[k * perLayer], c: shape.withCell ? tensors[k * perLayer + 1] : undefined }));
}
