/**
 * What the engine reads: S streams of P usable positions, and for any group of
 * streams and range of positions the window's input and targets, time-major.
 */
import type { WindowInput } from '@unroll/models';
import type { TokenStreams } from '@unroll/datasets';

export interface WindowData {
  input: WindowInput;
  /** Class ids [T·B] (cross-entropy) or values [T·B·O] (regression), time-major. */
  targets: Int32Array | Float32Array;
  /**
   * Which positions are scored, [T·B] time-major, 1 scored and 0 not (a
   * many-to-one task scores a sequence's last step only; padding is never scored).
   * @defaultValue every position
   */
  mask?: Uint8Array;
  /**
   * Per stream [B], 1 when a new sequence starts at the window's first position:
   * the state carried into that stream is zeroed before the window (see
   * episode-data.ts). @defaultValue no stream resets
   */
  resets?: Uint8Array;
}

export interface SequenceData {
  readonly streams: number;
  /** Usable input positions per stream. */
  readonly positions: number;
  window(firstStream: number, count: number, start: number, T: number): WindowData;
}

/** Next-token prediction over token streams: input position p, target p + 1. */
export class TokenSequenceData implements SequenceData {
  constructor(private readonly data: TokenStreams) {}

  get streams(): number {
    return this.data.count;
  }

  get positions(): number {
    return this.data.length - 1;
  }

  window(firstStream: number, count: number, start: number, T: number): WindowData {
    if (firstStream + count > this.streams || start + T > this.positions) throw new RangeError(`window streams [${firstStream}, ${firstStream + count}) positions [${start}, ${start + T}) is outside the data`);
    const ids = new Int32Array(T * count);
    const targets = new Int32Array(T * count);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < count; b++) {
        ids[t * count + b] = this.data.at(firstStream + b, start + t);
        targets[t * count + b] = this.data.at(firstStream + b, start + t + 1);
      }
    }
    return { input: { kind: 'tokens', ids, T, B: count }, targets };
  }
}

/**
 * Dense sequences: `rows` time steps of `inputSize` inputs followed by `outputSize`
 * targets, cut into contiguous streams like tokens; the target of position p is
 * row p's target columns.
 */
export class DenseSequenceData implements SequenceData {
  readonly positions: number;

  constructor(
    private readonly values: Float32Array,
    private readonly inputSize: number,
    private readonly outputSize: number,
    readonly streams: number,
  ) {
    const width = inputSize + outputSize;
    const rows = Math.floor(values.length / width);
    this.positions = Math.floor(rows / streams);
    if (this.positions < 1) throw new RangeError(`${rows} rows cannot fill ${streams} streams`);
  }

  window(firstStream: number, count: number, start: number, T: number): WindowData {
    const I = this.inputSize;
    const O = this.outputSize;
    const width = I + O;
    const x = new Float32Array(T * count * I);
    const y = new Float32Array(T * count * O);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < count; b++) {
        const row = (firstStream + b) * this.positions + start + t;
        const src = row * width;
        x.set(this.values.subarray(src, src + I), (t * count + b) * I);
        y.set(this.values.subarray(src + I, src + width), (t * count + b) * O);
      }
    }
    return { input: { kind: 'dense', x, T, B: count }, targets: y };
  }
}
