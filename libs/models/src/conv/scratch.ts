/**
 * Reused work arrays for the fused ConvLSTM window, and products written into them.
 *
 * Why: one window at the benchmark's size (B=8, T=10, 64×64, 16 filters) keeps ~400 MB of
 * patches, gates and gradients. A fresh typed array of that size is mapped anew from the
 * OS and every page is faulted in on first write; on the development VM that costs
 * ~5 ms per MB (a 189 MB array: ~0.9 s of CPU before any arithmetic), more than the
 * products themselves. Arrays returned to the pool after backward are reused by the next
 * window at the same shapes, already mapped.
 */
import type { Gemm, Matrix } from '../gemm';

export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private bytes = 0;

  /** @param maxBytes free arrays kept at most; beyond it, given-back arrays are left to the GC */
  constructor(readonly maxBytes: number) {}

  /** An array of n values: a pooled one (its old contents unless `zero`) or a fresh one (zeros). */
  take(n: number, zero = false): Float32Array {
    const a = this.free.get(n)?.pop();
    if (!a) return new Float32Array(n);
    this.bytes -= a.byteLength;
    if (zero) a.fill(0);
    return a;
  }

  /** Hands arrays back; the caller must not use them afterwards. */
  give(...arrays: Float32Array[]): void {
    for (const a of arrays) {
      if (a.byteOffset !== 0 || a.length * 4 !== a.buffer.byteLength || this.bytes + a.byteLength > this.maxBytes) continue;
      const list = this.free.get(a.length) ?? [];
      if (list.includes(a)) continue;
      list.push(a);
      this.free.set(a.length, list);
      this.bytes += a.byteLength;
    }
  }

  /** Bytes held in free arrays. */
  get heldBytes(): number {
    return this.bytes;
  }
}

/**
 * The ConvLSTM windows' pool.
 * @defaultValue 1 GiB — the work arrays of two layers' windows at the benchmark's size (~400 MB each)
 */
export const convLstmBuffers = new BufferPool(1 << 30);

/** out = A · B (or out += A · B with `accumulate`): in place when the Gemm can, else through `mul`. */
export function gemmInto(gemm: Gemm, a: Float32Array, m: number, b: Matrix, out: Float32Array, accumulate = false): void {
  if (gemm.mulInto) {
    gemm.mulInto(a, m, b, out, accumulate);
    return;
  }
  const p = gemm.mul(a, m, b);
  if (!accumulate) {
    out.set(p);
    return;
  }
  for (let i = 0; i < p.length; i++) out[i] += p[i];
}
