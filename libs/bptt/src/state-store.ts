/**
 * Where the hidden state of each stream lives between windows.
 *
 * The state a window starts from is keyed by (stream, step): a job for step s reads
 * the state stored for s and writes the state for s + 1 under a new key, never
 * overwriting its input, so running a job twice gives the same bytes (DESIGN
 * invariant 2). This in-memory store serves one process; the distributed runtime
 * keeps the same keys in Redis.
 */
import type { NetworkState } from '@unroll/models';

export interface StreamStateStore {
  /** State of streams [first, first + count) at the start of `step`, or undefined when not stored. */
  get(first: number, count: number, step: number): NetworkState | undefined;
  put(first: number, count: number, step: number, state: NetworkState): void;
  /** Drops everything stored for steps before `step` (committed and no longer needed). */
  prune(beforeStep: number): void;
}

export class MissingStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingStateError';
  }
}

export class InMemoryStateStore implements StreamStateStore {
  private readonly entries = new Map<string, NetworkState>();

  get(first: number, count: number, step: number): NetworkState | undefined {
    return this.entries.get(`${first}:${count}@${step}`);
  }

  put(first: number, count: number, step: number, state: NetworkState): void {
    this.entries.set(`${first}:${count}@${step}`, state);
  }

  prune(beforeStep: number): void {
    for (const key of this.entries.keys()) if (Number(key.split('@')[1]) < beforeStep) this.entries.delete(key);
  }
}

/** Concatenates per-group states (each [count, H] per layer) in stream order into [S, H] per layer. */
export function joinStates(parts: NetworkState[]): NetworkState {
  const layers = parts[0].length;
  return Array.from({ length: layers }, (_, k) => {
    const hs = parts.map((p) => p[k].h);
    const cs = parts.map((p) => p[k].c);
    const cat = (arrs: Float32Array[]) => {
      const out = new Float32Array(arrs.reduce((n, a) => n + a.length, 0));
      let o = 0;
      for (const a of arrs) {
        out.set(a, o);
        o += a.length;
      }
      return out;
    };
    return { h: cat(hs), c: cs.every((c) => c) ? cat(cs as Float32Array[]) : undefined };
  });
}

/** Rows [first, first + count) of a [S, H]-per-layer state. */
export function sliceState(state: NetworkState, first: number, count: number, H: number): NetworkState {
  return state.map((l) => ({ h: l.h.slice(first * H, (first + count) * H), c: l.c?.slice(first * H, (first + count) * H) }));
}
