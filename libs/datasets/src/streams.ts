/**
 * Cutting one long sequence into S contiguous streams, as PyTorch's
 * word_language_model `batchify` does: stream j is positions [j·L, (j+1)·L) with
 * L = ⌊N / S⌋; the tail that does not fill a stream is dropped.
 */
export class StreamError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'StreamError';
  }
}

export interface TokenStreams {
  readonly count: number;
  readonly length: number;
  /** Token at position p of stream j. */
  at(j: number, p: number): number;
}

export function batchify(tokens: Int32Array, streams: number): TokenStreams {
  if (!Number.isInteger(streams) || streams < 1) throw new StreamError(`streams must be a positive integer, got ${streams}`);
  const length = Math.floor(tokens.length / streams);
  if (length < 2) throw new StreamError(`${tokens.length} tokens cannot fill ${streams} streams of at least 2 tokens`);
  return {
    count: streams,
    length,
    at: (j, p) => tokens[j * length + p],
  };
}
