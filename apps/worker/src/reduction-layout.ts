/**
 * What a member hands the collective for one step, and the check that every member
 * handed the same thing (DESIGN invariant 5: collectives run in the same order on
 * every member).
 *
 * The buffers of a reduction are, in this order:
 *
 *   [layout, g_p0, g_p1, …]   g_p = the gradient of parameter p, in the network's
 *                             parameter order (RecurrentNetwork.specs)
 *
 * The order is fixed by construction — reductionBuffers() takes the names from the
 * network, never from a map's insertion order — and checked at run time: `layout`
 * is a fingerprint of the (name, length) list, F = 4 integers of 12 bits each (a
 * 48-bit FNV-1a hash). It is summed with the gradients, so after the all-reduce it
 * holds Σ_members F_m; a member verifies Σ F_m = N · F_own exactly. If any member's
 * layout differs (another tensor order, another shape of the same total size —
 * which the ring cannot see, as it checks total lengths only) every member sees the
 * mismatch and fails the step before staging anything. Integers below 2^12 summed
 * over fewer than 2^12 members stay below 2^24, so float32 sums them exactly.
 *
 * The bucket plan (libs/collective bucket-plan.ts) is a pure function of the buffer
 * lengths and the bucket size; the lengths are in the fingerprint, and a member with
 * another bucket size sends chunks at offsets its successor refuses
 * (ring-protocol.spec.ts, "offset").
 */
export class LayoutMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LayoutMismatchError';
  }
}

/** Integers per fingerprint, and bits per integer. */
const WORDS = 4;
const BITS = 12;
const MASK = (1 << BITS) - 1;

/** The fingerprint of a (name, length) list, as WORDS integers below 2^BITS. */
export function layoutFingerprint(layout: ReadonlyArray<readonly [string, number]>): Float32Array {
  const text = layout.map(([name, n]) => `${name}:${n};`).join('');
  let words = FINGERPRINTS.get(text);
  if (words === undefined) {
    words = fnvWords(text);
    if (FINGERPRINTS.size >= 64) FINGERPRINTS.clear();
    FINGERPRINTS.set(text, words);
  }
  return Float32Array.from(words);
}

/** Fingerprints by layout text: a worker reduces the same layout every step (BigInt hashing is slow). */
const FINGERPRINTS = new Map<string, Float32Array>();

function fnvWords(text: string): Float32Array {
  // FNV-1a over the UTF-16 code units of "name:length;…", 64-bit in BigInt (a few hundred units).
  let h = 0xcbf29ce484222325n;
  for (const ch of text) {
    h ^= BigInt(ch.charCodeAt(0));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  const out = new Float32Array(WORDS);
  for (let i = 0; i < WORDS; i++) out[i] = Number((h >> BigInt(i * BITS)) & BigInt(MASK));
  return out;
}

/**
 * The buffers of one reduction: the layout fingerprint, then the gradient of every
 * parameter of `order` (the network's parameter names), in that order. `verify`
 * checks, after the all-reduce over `size` members, that every member had this layout.
 */
export function reductionBuffers(
  order: readonly string[],
  grads: ReadonlyMap<string, Float32Array>,
): { buffers: Float32Array[]; layout: Array<[string, number]>; verify(size: number): void } {
  const tensors = order.map((name) => {
    const g = grads.get(name);
    if (!g) throw new LayoutMismatchError(`no gradient for parameter ${name}`);
    return g;
  });
  if (grads.size !== order.length) throw new LayoutMismatchError(`${grads.size} gradients for ${order.length} parameters`);
  const layout = order.map((name, i) => [name, tensors[i].length] as [string, number]);
  const own = layoutFingerprint(layout);
  const reduced = Float32Array.from(own);
  return {
    buffers: [reduced, ...tensors],
    layout,
    verify(size: number) {
      for (let i = 0; i < WORDS; i++) {
        if (reduced[i] !== size * own[i]) {
          throw new LayoutMismatchError(
            `the members reduced different gradient layouts (fingerprint word ${i}: sum ${reduced[i]}, expected ${size} × ${own[i]}); this member's is ${layout.map(([n, l]) => `${n}[${l}]`).join(', ')}`,
          );
        }
      }
    },
  };
}
