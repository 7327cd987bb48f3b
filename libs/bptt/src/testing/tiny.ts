/**
 * Tiny networks and data for engine tests. Everything is seeded, so two calls with
 * the same arguments give bit-identical networks and data (the parity tests rely on
 * it). Sizes stay small: the cpu backend is slow for big matrices.
 */
import { RecurrentNetwork, Rng, type CellConfig } from '@unroll/models';
import { batchify } from '@unroll/datasets';
import type { NamedArrays } from '../gradients';
import { DenseSequenceData, TokenSequenceData } from '../sequence-data';

export const TANH: CellConfig = { kind: 'rnn', activation: 'tanh' };
export const LSTM: CellConfig = { kind: 'lstm' };
export const GRU: CellConfig = { kind: 'gru', variant: 'reset-after' };

export interface TinyTokenNet {
  cell: CellConfig;
  vocab: number;
  /** @defaultValue 4 */
  embedding?: number;
  /** @defaultValue 8 */
  hidden?: number;
  /** @defaultValue 1 */
  layers?: number;
  /** @defaultValue 1 */
  seed?: number;
}

export function tinyTokenNet(o: TinyTokenNet): RecurrentNetwork {
  return new RecurrentNetwork(
    { cell: o.cell, input: { kind: 'tokens', vocabSize: o.vocab, embedding: o.embedding ?? 4 }, hidden: o.hidden ?? 8, layers: o.layers ?? 1, outputSize: o.vocab },
    new Rng(o.seed ?? 1),
  );
}

export function tinyDenseNet(cell: CellConfig, inputSize: number, hidden: number, outputSize: number, seed = 1): RecurrentNetwork {
  return new RecurrentNetwork({ cell, input: { kind: 'dense', size: inputSize }, hidden, layers: 1, outputSize }, new Rng(seed));
}

/** `n` token ids uniform in [0, vocab), from a seeded generator. */
export function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(rng.next() * vocab));
}

export function tokenData(n: number, vocab: number, streams: number, seed: number): TokenSequenceData {
  return new TokenSequenceData(batchify(randomTokens(n, vocab, seed), streams));
}

/** Dense rows of `inputSize` inputs then `outputSize` targets, uniform in [−scale, scale). */
export function denseValues(rows: number, inputSize: number, outputSize: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: rows * (inputSize + outputSize) }, () => rng.uniform(-scale, scale));
}

export function denseData(rows: number, inputSize: number, outputSize: number, streams: number, seed: number, scale = 1): DenseSequenceData {
  return new DenseSequenceData(denseValues(rows, inputSize, outputSize, seed, scale), inputSize, outputSize, streams);
}

/** max_i |a_i − b_i| over two arrays of equal length (NaN anywhere gives NaN). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`maxAbsDiff expects equal lengths, got ${a.length} and ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > m) m = d;
  }
  return m;
}

/** max over parameters of maxAbsDiff; both sets must name the same parameters. */
export function paramsMaxAbsDiff(a: ReadonlyMap<string, ArrayLike<number>>, b: ReadonlyMap<string, ArrayLike<number>>): number {
  if (a.size !== b.size) throw new RangeError(`parameter sets differ in size: ${a.size} vs ${b.size}`);
  let m = 0;
  for (const [name, x] of a) {
    const y = b.get(name);
    if (!y) throw new RangeError(`parameter ${name} missing from the second set`);
    const d = maxAbsDiff(x, y);
    if (Number.isNaN(d)) return NaN;
    m = Math.max(m, d);
  }
  return m;
}

/** Deep copy of a parameter (or gradient) set. */
export function cloneArrays(a: ReadonlyMap<string, Float32Array>): NamedArrays {
  return new Map([...a].map(([k, v]) => [k, Float32Array.from(v)]));
}

/** True when both sets hold bit-identical values (NaN equal to NaN of the same bits). */
export function sameBits(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, x] of a) {
    const y = b.get(name);
    if (!y || y.length !== x.length) return false;
    const xu = new Uint32Array(x.buffer, x.byteOffset, x.length);
    const yu = new Uint32Array(y.buffer, y.byteOffset, y.length);
    for (let i = 0; i < xu.length; i++) if (xu[i] !== yu[i]) return false;
  }
  return true;
}
