import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { addFloat32, INLINE_SLICE_ELEMENTS, type Reducer } from './reducer';

/** Sums on the calling thread, yielding to the event loop every {@link INLINE_SLICE_ELEMENTS}. */
export class InlineReducer implements Reducer {
  readonly wantsSharedTarget = false;
  /**
   * Where a slice of an unaligned payload (a protobuf `bytes` field starts wherever
   * the header ends) is copied to be read as float32s. One per reducer suffices:
   * a slice is copied and summed without yielding in between. It replaces a fresh
   * aligned copy of the whole chunk, whose allocation cost more than the copy.
   */
  private readonly scratch: Float32Array;

  constructor(private readonly sliceElements = INLINE_SLICE_ELEMENTS) {
    this.scratch = new Float32Array(sliceElements);
  }

  async addInto(target: Float32Array, offset: number, source: Uint8Array): Promise<void> {
    const count = source.byteLength >>> 2;
    const aligned = source.byteOffset % 4 === 0 ? new Float32Array(source.buffer, source.byteOffset, count) : undefined;
    const scratchBytes = new Uint8Array(this.scratch.buffer);
    for (let from = 0; from < count; from += this.sliceElements) {
      if (from > 0) await yieldToEventLoop();
      const to = Math.min(count, from + this.sliceElements);
      if (aligned) addFloat32(target, offset, aligned, from, to);
      else {
        scratchBytes.set(source.subarray(from * 4, to * 4));
        addFloat32(target, offset + from, this.scratch, 0, to - from);
      }
    }
  }

  async close(): Promise<void> {
    // nothing to release
  }
}
