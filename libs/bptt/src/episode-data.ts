/**
 * Sequences of their own (episodes) laid out for TBPTT: what lets one engine train
 * every model type of the lecture — one-to-one, one-to-many, many-to-one,
 * many-to-many (encoder–decoder and synced) — with the same schedule.
 *
 * Each episode is padded to a whole number of windows (k = tbptt.window, with
 * stride = window): `align: 'start'` puts the padding after the episode (it starts
 * from a zero state at a window's first position), `align: 'end'` before it (its last
 * step is the last step of a window — the many-to-one layout, where the loss sits on
 * the last window's last step). Padding is never scored (mask 0).
 *
 * Episodes are dealt in order to the stream that is shortest so far (ties: the lowest
 * stream), and every stream is padded at its end to the longest. So stream b holds
 * whole episodes back to back, each starting at a window boundary; WindowData.resets
 * marks the streams whose next episode starts at the window's first position, and
 * the window job zeroes their carried state. Within an episode the state is carried
 * across its windows as in any TBPTT run. The layout depends on the episodes, the
 * stream count and the window alone, so the global batch of step s still depends on
 * the spec and s alone, and micro-batches (any split of the streams) see exactly the
 * rows one big batch sees.
 */
import type { SequenceData, WindowData } from './sequence-data';

export interface Episode {
  /** L steps: token ids [L] or dense inputs [L·I]. */
  input: Int32Array | Float32Array;
  /** Class ids [L] or values [L·O]; unscored steps may hold anything. */
  targets: Int32Array | Float32Array;
  /** [L], 1 where the step is scored. */
  mask: Uint8Array;
}

export interface EpisodeLayout {
  input: { kind: 'tokens'; padId: number } | { kind: 'dense'; size: number };
  /** Class ids (cross-entropy) or `size` values per step (regression). */
  targets: { kind: 'classes' } | { kind: 'values'; size: number };
  /** Where the padding of a short episode goes (see the file comment). */
  align: 'start' | 'end';
}

export class EpisodeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'EpisodeError';
  }
}

interface Stream {
  input: number[];
  targets: number[];
  mask: number[];
  starts: number[];
}

export class EpisodeSequenceData implements SequenceData {
  readonly positions: number;
  private readonly I: number;
  private readonly O: number;
  private readonly input: Int32Array | Float32Array;
  private readonly targets: Int32Array | Float32Array;
  private readonly mask: Uint8Array;
  private readonly starts: Uint8Array;

  constructor(
    episodes: readonly Episode[],
    readonly layout: EpisodeLayout,
    readonly streams: number,
    /** k (tbptt.window): episodes are padded to multiples of it. */
    readonly windowLength: number,
  ) {
    if (episodes.length < streams) throw new EpisodeError(`${episodes.length} sequences cannot fill ${streams} streams: use fewer streams`);
    this.I = layout.input.kind === 'dense' ? layout.input.size : 1;
    this.O = layout.targets.kind === 'values' ? layout.targets.size : 1;
    const padInput = layout.input.kind === 'tokens' ? layout.input.padId : 0;
    const lanes: Stream[] = Array.from({ length: streams }, () => ({ input: [], targets: [], mask: [], starts: [] }));
    const pad = (s: Stream, steps: number) => {
      for (let t = 0; t < steps; t++) {
        for (let i = 0; i < this.I; i++) s.input.push(padInput);
        for (let o = 0; o < this.O; o++) s.targets.push(0);
        s.mask.push(0);
        s.starts.push(0);
      }
    };
    episodes.forEach((e, n) => {
      const L = e.mask.length;
      if (L < 1 || e.input.length !== L * this.I || e.targets.length !== L * this.O) {
        throw new EpisodeError(`sequence ${n}: expected ${L} steps of ${this.I} inputs and ${this.O} targets, got ${e.input.length} inputs and ${e.targets.length} targets`);
      }
      let lane = lanes[0];
      for (const s of lanes) if (s.mask.length < lane.mask.length) lane = s;
      const padding = Math.ceil(L / windowLength) * windowLength - L;
      const first = lane.mask.length;
      if (layout.align === 'end') pad(lane, padding);
      for (let t = 0; t < L; t++) {
        for (let i = 0; i < this.I; i++) lane.input.push(e.input[t * this.I + i]);
        for (let o = 0; o < this.O; o++) lane.targets.push(e.targets[t * this.O + o]);
        lane.mask.push(e.mask[t]);
        lane.starts.push(0);
      }
      if (layout.align === 'start') pad(lane, padding);
      lane.starts[first] = 1;
    });
    this.positions = Math.max(...lanes.map((s) => s.mask.length));
    for (const s of lanes) pad(s, this.positions - s.mask.length);
    const flat = (pick: (s: Stream) => number[]) => lanes.flatMap(pick);
    this.input = layout.input.kind === 'tokens' ? Int32Array.from(flat((s) => s.input)) : Float32Array.from(flat((s) => s.input));
    this.targets = layout.targets.kind === 'classes' ? Int32Array.from(flat((s) => s.targets)) : Float32Array.from(flat((s) => s.targets));
    this.mask = Uint8Array.from(flat((s) => s.mask));
    this.starts = Uint8Array.from(flat((s) => s.starts));
  }

  /** Scored positions in the whole layout. */
  get scored(): number {
    return this.mask.reduce((n, m) => n + m, 0);
  }

  window(firstStream: number, count: number, start: number, T: number): WindowData {
    if (firstStream + count > this.streams || start + T > this.positions) throw new RangeError(`window streams [${firstStream}, ${firstStream + count}) positions [${start}, ${start + T}) is outside the data`);
    const { I, O, positions: P } = this;
    const input = this.layout.input.kind === 'tokens' ? new Int32Array(T * count) : new Float32Array(T * count * I);
    const targets = this.layout.targets.kind === 'classes' ? new Int32Array(T * count) : new Float32Array(T * count * O);
    const mask = new Uint8Array(T * count);
    const resets = new Uint8Array(count);
    for (let b = 0; b < count; b++) {
      const row0 = (firstStream + b) * P + start;
      resets[b] = this.starts[row0];
      for (let t = 0; t < T; t++) {
        const row = row0 + t;
        const r = t * count + b;
        input.set(this.input.subarray(row * I, (row + 1) * I), r * I);
        targets.set(this.targets.subarray(row * O, (row + 1) * O), r * O);
        mask[r] = this.mask[row];
      }
    }
    const windowInput = input instanceof Int32Array ? { kind: 'tokens' as const, ids: input, T, B: count } : { kind: 'dense' as const, x: input, T, B: count };
    return { input: windowInput, targets, mask, resets };
  }
}

/**
 * Synced many-to-many over one long token sequence: input token p, label p (a tag per
 * step), cut into S contiguous streams like the language model's (PyTorch's batchify).
 */
export class TaggedTokenSequenceData implements SequenceData {
  readonly positions: number;

  constructor(
    private readonly ids: Int32Array,
    private readonly tags: Int32Array,
    readonly streams: number,
  ) {
    if (ids.length !== tags.length) throw new EpisodeError(`${ids.length} tokens but ${tags.length} tags`);
    this.positions = Math.floor(ids.length / streams);
    if (this.positions < 1) throw new EpisodeError(`${ids.length} tokens cannot fill ${streams} streams`);
  }

  window(firstStream: number, count: number, start: number, T: number): WindowData {
    if (firstStream + count > this.streams || start + T > this.positions) throw new RangeError(`window streams [${firstStream}, ${firstStream + count}) positions [${start}, ${start + T}) is outside the data`);
    const ids = new Int32Array(T * count);
    const targets = new Int32Array(T * count);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < count; b++) {
        const p = (firstStream + b) * this.positions + start + t;
        ids[t * count + b] = this.ids[p];
        targets[t * count + b] = this.tags[p];
      }
    }
    return { input: { kind: 'tokens', ids, T, B: count }, targets };
  }
}
