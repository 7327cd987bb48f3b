import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { addFloat32, asFloat32, INLINE_SLICE_ELEMENTS, type Reducer } from './reducer';

/** Sums on the calling thread, yielding to the event loop every {@link INLINE_SLICE_ELEMENTS}. */
export class InlineReducer implements Reducer {
  readonly wantsSharedTarget = false;
  constructor(private readonly sliceElements = INLINE_SLICE_ELEMENTS) {}

  async addInto(target: Float32Array, offset: number, source: Uint8Array): Promise<void> {
    const b = asFloat32(source);
    for (let from = 0; from < b.length; from += this.sliceElements) {
      if (from > 0) await yieldToEventLoop();
      addFloat32(target, offset, b, from, Math.min(b.length, from + this.sliceElements));
    }
  }

  async close(): Promise<void> {
    // nothing to release
  }
}
