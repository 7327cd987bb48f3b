/**
 * Gradients as host arrays, one Float32Array per parameter, in the network's fixed
 * parameter order — the form that is accumulated over micro-batches, all-reduced
 * between workers, clipped and handed to the optimizer.
 *
 * After the (all-)reduced sum is divided by the step's token count:
 *   global norm   ‖g‖ = √(Σ_p Σ_i g_pi²)        (before and after clipping)
 *   clipping      g ← g · clipNorm / (‖g‖ + 1e−6)  when ‖g‖ > clipNorm  (torch.nn.utils.clip_grad_norm_)
 *   NaN/Inf       a non-finite ‖g‖ skips the step: parameters and optimizer state stay as they were
 */
export type NamedArrays = Map<string, Float32Array>;

export function zerosLike(shapes: ReadonlyMap<string, number>): NamedArrays {
  const out: NamedArrays = new Map();
  for (const [name, n] of shapes) out.set(name, new Float32Array(n));
  return out;
}

/** acc += g, parameter by parameter. */
export function accumulate(acc: NamedArrays, g: ReadonlyMap<string, Float32Array>): void {
  for (const [name, a] of acc) {
    const b = g.get(name);
    if (!b) throw new Error(`gradient for ${name} is missing`);
    if (b.length !== a.length) throw new RangeError(`gradient for ${name} has ${b.length} values, expected ${a.length}`);
    for (let i = 0; i < a.length; i++) a[i] += b[i];
  }
}

export function scale(g: NamedArrays, factor: number): void {
  for (const a of g.values()) for (let i = 0; i < a.length; i++) a[i] *= factor;
}

/** The layer a parameter belongs to, for per-layer norms: encoder, rnn.l0, rnn.l1, …, decoder. */
export function layerOf(name: string): string {
  const m = /^rnn\.(?:weight|bias)_(?:ih|hh|ch)_l(\d+)(_reverse)?$/.exec(name);
  if (m) return `rnn.l${m[1]}${m[2] ?? ''}`;
  return name.split('.')[0];
}

export interface GradientStats {
  norm: number;
  layerNorms: Record<string, number>;
  finite: boolean;
}

export function gradientStats(g: NamedArrays): GradientStats {
  const layerSq: Record<string, number> = {};
  let total = 0;
  for (const [name, a] of g) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * a[i];
    const layer = layerOf(name);
    layerSq[layer] = (layerSq[layer] ?? 0) + s;
    total += s;
  }
  const layerNorms: Record<string, number> = {};
  for (const [k, v] of Object.entries(layerSq)) layerNorms[k] = Math.sqrt(v);
  const norm = Math.sqrt(total);
  return { norm, layerNorms, finite: Number.isFinite(norm) };
}

/** Clips in place to `maxNorm`; returns the factor applied (1 when not clipped). */
export function clipByGlobalNorm(g: NamedArrays, norm: number, maxNorm: number | undefined): number {
  if (maxNorm === undefined || !(norm > maxNorm)) return 1;
  const factor = maxNorm / (norm + 1e-6);
  scale(g, factor);
  return factor;
}
