/** The conformance suite of HiddenStateStore, for every implementation. */
import { HiddenStateStore } from '../interfaces';
import { Fixture, useFixture } from './conformance-helpers';

const layers = (seed: number, sizes: number[]): Float32Array[] =>
  sizes.map((n, l) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 31 + l * 7 + i) * 1e3));

export function describeHiddenStateStoreConformance(name: string, factory: () => Promise<Fixture<HiddenStateStore>>): void {
  describe(`HiddenStateStore conformance: ${name}`, () => {
    const fixture = useFixture(factory);
    let store: HiddenStateStore;
    beforeEach(() => {
      store = fixture().subject;
    });

    it('round-trips layers bit for bit, including empty layers and special values', async () => {
      const state = [...layers(1, [8, 0, 3]), Float32Array.of(Number.NaN, -0, Infinity, -Infinity, 1e-45, 3.4e38)];
      await store.put('exp', 0, 4, 7, state);
      const got = await store.get('exp', 0, 4, 7);
      expect(got).toHaveLength(4);
      got?.forEach((layer, i) => {
        expect(layer).toBeInstanceOf(Float32Array);
        expect(Buffer.from(layer.buffer, layer.byteOffset, layer.byteLength)).toEqual(
          Buffer.from(state[i].buffer, state[i].byteOffset, state[i].byteLength),
        );
      });
    });

    it('round-trips a state with no layers and tells states apart by every key part', async () => {
      await store.put('exp', 0, 4, 0, []);
      expect(await store.get('exp', 0, 4, 0)).toEqual([]);
      expect(await store.get('exp', 0, 4, 1)).toBeUndefined();
      expect(await store.get('exp', 4, 4, 0)).toBeUndefined();
      expect(await store.get('exp', 0, 2, 0)).toBeUndefined();
      expect(await store.get('other', 0, 4, 0)).toBeUndefined();
    });

    it('copies: mutating the written or the returned arrays changes nothing stored', async () => {
      const state = layers(2, [4]);
      await store.put('exp', 0, 1, 0, state);
      state[0][0] = 42;
      const got = (await store.get('exp', 0, 1, 0)) as Float32Array[];
      expect(got[0][0]).not.toBe(42);
      got[0][1] = 42;
      expect(((await store.get('exp', 0, 1, 0)) as Float32Array[])[0][1]).not.toBe(42);
    });

    it('put is idempotent: the same key twice holds one state', async () => {
      await store.put('exp', 2, 2, 3, layers(3, [5, 5]));
      await store.put('exp', 2, 2, 3, layers(3, [5, 5]));
      expect(await store.get('exp', 2, 2, 3)).toEqual(layers(3, [5, 5]));
      expect(await store.deleteAll('exp')).toBe(1);
    });

    it('deleteBefore removes exactly the older steps of that experiment', async () => {
      for (let step = 0; step < 6; step++) {
        for (const first of [0, 4]) await store.put('exp', first, 4, step, layers(step + first, [3]));
        await store.put('other', 0, 4, step, layers(step, [3]));
      }
      expect(await store.deleteBefore('exp', 3)).toBe(6);
      for (let step = 0; step < 6; step++) {
        for (const first of [0, 4]) {
          const got = await store.get('exp', first, 4, step);
          if (step < 3) expect(got).toBeUndefined();
          else expect(got).toEqual(layers(step + first, [3]));
        }
        expect(await store.get('other', 0, 4, step)).toEqual(layers(step, [3]));
      }
      expect(await store.deleteBefore('exp', 3)).toBe(0);
      expect(await store.deleteBefore('missing', 3)).toBe(0);
    });

    it('deleteAll removes every state of that experiment only', async () => {
      for (let step = 0; step < 3; step++) {
        await store.put('exp', 0, 2, step, layers(step, [2]));
        await store.put('other', 0, 2, step, layers(step, [2]));
      }
      expect(await store.deleteAll('exp')).toBe(3);
      expect(await store.get('exp', 0, 2, 2)).toBeUndefined();
      expect(await store.get('other', 0, 2, 2)).toEqual(layers(2, [2]));
      expect(await store.deleteAll('exp')).toBe(0);
    });
  });
}
