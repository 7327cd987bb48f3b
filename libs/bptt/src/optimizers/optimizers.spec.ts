/**
 * SGD and Adam against float64 re-implementations of torch.optim's documented
 * update rules (https://pytorch.org/docs/stable/generated/torch.optim.SGD.html and
 * …/torch.optim.Adam.html, amsgrad = maximize = False, dampening = 0), written the
 * way the documentation writes them (Adam with the bias-corrected m̂ and v̂), not the
 * way the implementation rearranges them.
 */
import { loadNativeKernels } from '@unroll/kernels-native';
import { describeNative } from '@unroll/kernels-native/testing';
import { Rng } from '@unroll/models';
import type { NamedArrays } from '../gradients';
import { Adam, checkSlots, createOptimizer, OptimizerStateError, Sgd, type AdamOptions, type Optimizer, type OptimizerState, type SgdOptions } from '.';
import { cloneArrays, sameBits } from '../testing';

const SHAPES = new Map<string, number>([
  ['rnn.weight_ih_l0', 12],
  ['rnn.bias_hh_l0', 4],
  ['decoder.weight', 6],
]);
const STEPS = 5;

function randomSet(seed: number, scale: number): NamedArrays {
  const rng = new Rng(seed);
  return new Map([...SHAPES].map(([name, n]) => [name, Float32Array.from({ length: n }, () => rng.uniform(-scale, scale))]));
}

/** The gradients of steps 0..STEPS−1, float32 like the engine's. */
const GRADS: NamedArrays[] = Array.from({ length: STEPS + 3 }, (_, s) => randomSet(100 + s, 1));
const INITIAL = randomSet(7, 1);

type F64Set = Map<string, Float64Array>;
const toF64 = (a: ReadonlyMap<string, Float32Array>): F64Set => new Map([...a].map(([k, v]) => [k, Float64Array.from(v)]));

/**
 * torch.optim.SGD, documented rule, per element:
 *   g_t ← g_t + λ θ_{t−1}
 *   if μ ≠ 0:  b_t ← g_t (t = 1) or μ b_{t−1} + g_t;   g_t ← g_t + μ b_t (nesterov) or b_t
 *   θ_t ← θ_{t−1} − γ g_t
 */
function sgdReference(initial: ReadonlyMap<string, Float32Array>, grads: NamedArrays[], o: Required<SgdOptions>): F64Set {
  const theta = toF64(initial);
  const b = new Map<string, Float64Array>();
  grads.forEach((step, t) => {
    for (const [name, p] of theta) {
      const g0 = step.get(name) as Float32Array;
      const buf = b.get(name) ?? new Float64Array(p.length);
      b.set(name, buf);
      for (let i = 0; i < p.length; i++) {
        let g = g0[i] + o.weightDecay * p[i];
        if (o.momentum !== 0) {
          buf[i] = t === 0 ? g : o.momentum * buf[i] + g;
          g = o.nesterov ? g + o.momentum * buf[i] : buf[i];
        }
        p[i] = p[i] - o.lr * g;
      }
    }
  });
  return theta;
}

/**
 * torch.optim.Adam, documented rule, per element (t from 1):
 *   g_t ← g_t + λ θ_{t−1}
 *   m_t ← β1 m_{t−1} + (1 − β1) g_t          v_t ← β2 v_{t−1} + (1 − β2) g_t²
 *   m̂_t ← m_t / (1 − β1ᵗ)                    v̂_t ← v_t / (1 − β2ᵗ)
 *   θ_t ← θ_{t−1} − γ m̂_t / (√v̂_t + ε)
 */
function adamReference(initial: ReadonlyMap<string, Float32Array>, grads: NamedArrays[], o: Required<AdamOptions>): F64Set {
  const theta = toF64(initial);
  const m = new Map<string, Float64Array>();
  const v = new Map<string, Float64Array>();
  const [b1, b2] = o.betas;
  grads.forEach((step, s) => {
    const t = s + 1;
    for (const [name, p] of theta) {
      const g0 = step.get(name) as Float32Array;
      const mm = m.get(name) ?? new Float64Array(p.length);
      const vv = v.get(name) ?? new Float64Array(p.length);
      m.set(name, mm);
      v.set(name, vv);
      for (let i = 0; i < p.length; i++) {
        const g = g0[i] + o.weightDecay * p[i];
        mm[i] = b1 * mm[i] + (1 - b1) * g;
        vv[i] = b2 * vv[i] + (1 - b2) * g * g;
        const mHat = mm[i] / (1 - Math.pow(b1, t));
        const vHat = vv[i] / (1 - Math.pow(b2, t));
        p[i] = p[i] - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
      }
    }
  });
  return theta;
}

/** max |a − ref| / max |ref| over each parameter; the worst parameter. */
function worstRelError(a: ReadonlyMap<string, Float32Array>, ref: F64Set): number {
  let worst = 0;
  for (const [name, r] of ref) {
    const x = a.get(name) as Float32Array;
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < r.length; i++) {
      diff = Math.max(diff, Math.abs(x[i] - r[i]));
      scale = Math.max(scale, Math.abs(r[i]));
    }
    worst = Math.max(worst, Number.isNaN(diff) ? Infinity : diff / Math.max(scale, 1e-12));
  }
  return worst;
}

function run(opt: Optimizer, params: NamedArrays, grads: NamedArrays[]): NamedArrays {
  for (const g of grads) opt.step(params, cloneArrays(g));
  return params;
}

const SGD_CASES: Array<Required<SgdOptions>> = [
  { lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0 },
  { lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0 },
  { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0 },
  { lr: 0.1, momentum: 0.5, nesterov: false, weightDecay: 0.01 },
  { lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0.2 },
  { lr: 0.02, momentum: 0.95, nesterov: true, weightDecay: 0.1 },
];

const ADAM_CASES: Array<Required<AdamOptions>> = [
  { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
  { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0 },
  { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 },
  { lr: 0.05, betas: [0.5, 0.9], eps: 1e-3, weightDecay: 0.01 },
  { lr: 0.1, betas: [0, 0.5], eps: 0.5, weightDecay: 0 },
];

describe('Sgd', () => {
  it.each(SGD_CASES)('follows torch.optim.SGD over 5 steps (%o)', (o) => {
    const got = run(new Sgd(o), cloneArrays(INITIAL), GRADS.slice(0, STEPS));
    const ref = sgdReference(INITIAL, GRADS.slice(0, STEPS), o);
    expect(worstRelError(got, ref)).toBeLessThanOrEqual(1e-6);
  });

  it('differs from the reference when an option is ignored (the comparison can fail)', () => {
    const o = SGD_CASES[5];
    const got = run(new Sgd({ ...o, nesterov: false }), cloneArrays(INITIAL), GRADS.slice(0, STEPS));
    expect(worstRelError(got, sgdReference(INITIAL, GRADS.slice(0, STEPS), o))).toBeGreaterThan(1e-3);
  });

  it('defaults to plain SGD', () => {
    const got = run(new Sgd({ lr: 0.3 }), cloneArrays(INITIAL), GRADS.slice(0, STEPS));
    expect(worstRelError(got, sgdReference(INITIAL, GRADS.slice(0, STEPS), { lr: 0.3, momentum: 0, nesterov: false, weightDecay: 0 }))).toBeLessThanOrEqual(1e-6);
  });
});

describe('Adam', () => {
  it.each(ADAM_CASES)('follows torch.optim.Adam over 5 steps (%o)', (o) => {
    const got = run(new Adam(o), cloneArrays(INITIAL), GRADS.slice(0, STEPS));
    const ref = adamReference(INITIAL, GRADS.slice(0, STEPS), o);
    expect(worstRelError(got, ref)).toBeLessThanOrEqual(1e-6);
  });

  it('defaults to betas (0.9, 0.999), eps 1e-8, no weight decay', () => {
    const got = run(new Adam({ lr: 0.01 }), cloneArrays(INITIAL), GRADS.slice(0, STEPS));
    expect(worstRelError(got, adamReference(INITIAL, GRADS.slice(0, STEPS), { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }))).toBeLessThanOrEqual(1e-6);
  });

  it('differs from the reference when β2 is not the one asked for (the comparison can fail)', () => {
    const o = ADAM_CASES[1];
    const got = run(new Adam({ ...o, betas: [0.8, 0.999] }), cloneArrays(INITIAL), GRADS.slice(0, STEPS));
    expect(worstRelError(got, adamReference(INITIAL, GRADS.slice(0, STEPS), o))).toBeGreaterThan(1e-5);
  });
});

describeNative("Adam's element loop in the native addon (adamExact)", () => {
  const binding = (loadNativeKernels() as Extract<ReturnType<typeof loadNativeKernels>, { ok: true }>).kernels.binding;
  const loop = binding.adamExact.bind(binding);

  it.each(ADAM_CASES)("gives the JavaScript loop's bytes, step for step (%o)", (o) => {
    // Large random parameters and gradients of mixed scale, odd sizes (vector tails), 40 steps.
    const rng = new Rng(9);
    const sizes = [1, 7, 1031, 4099];
    const initial: NamedArrays = new Map(sizes.map((n, i) => [`p${i}`, Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 4)]));
    const js = new Adam(o);
    const native = new Adam(o, loop);
    const a = cloneArrays(initial);
    const b = cloneArrays(initial);
    for (let t = 0; t < 40; t++) {
      const scale = 10 ** ((t % 7) - 4);
      const g: NamedArrays = new Map(sizes.map((n, i) => [`p${i}`, Float32Array.from({ length: n }, () => (rng.next() - 0.5) * scale)]));
      js.step(a, g);
      native.step(b, g);
      expect(sameBits(b, a)).toBe(true);
    }
    expect(sameBits(a, initial)).toBe(false);
    const [sa, sb] = [js.state(), native.state()];
    expect(sameBits(sb.slots, sa.slots)).toBe(true);
  });

  it('the comparison can fail: the float32 kernel (adam) does not give those bytes', () => {
    const rng = new Rng(3);
    const p = Float32Array.from({ length: 4099 }, () => rng.next() - 0.5);
    const g = Float32Array.from({ length: 4099 }, () => (rng.next() - 0.5) * 1e-3);
    const a = new Map([['p', Float32Array.from(p)]]);
    new Adam({ lr: 1e-3 }, loop).step(a, new Map([['p', g]]));
    const q = Float32Array.from(p);
    binding.adam(q, g, new Float32Array(q.length), new Float32Array(q.length), 1e-3, 0.9, 0.999, 1e-8, 0, 1);
    expect(sameBits(new Map([['p', q]]), a)).toBe(false);
  });
});

describe.each([
  ['sgd', () => new Sgd({ lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ['adam', () => new Adam({ lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.01 })],
] as Array<[string, () => Optimizer]>)('%s state', (name, make) => {
  /** A state as a checkpoint would hold it: fresh arrays, meta through JSON. */
  const roundTrip = (s: OptimizerState): OptimizerState => ({
    slots: cloneArrays(s.slots),
    meta: JSON.parse(JSON.stringify(s.meta)) as OptimizerState['meta'],
  });

  it('state() → load() into a fresh optimizer continues exactly like the uninterrupted one', () => {
    const straight = run(make(), cloneArrays(INITIAL), GRADS);

    const first = make();
    const params = run(first, cloneArrays(INITIAL), GRADS.slice(0, 3));
    const saved = roundTrip(first.state());
    expect(saved.meta).toMatchObject({ optimizer: name, step: 3 });
    checkSlots(saved, SHAPES);
    // Stepping the first optimizer on does not change what was saved.
    run(first, cloneArrays(params), GRADS.slice(3, 4));
    const second = make();
    second.load(saved);
    const resumed = run(second, params, GRADS.slice(3));
    expect(sameBits(resumed, straight)).toBe(true);
  });

  it('a fresh optimizer without the loaded state does not continue the same way (the check can fail)', () => {
    const straight = run(make(), cloneArrays(INITIAL), GRADS);
    const params = run(make(), cloneArrays(INITIAL), GRADS.slice(0, 3));
    const restarted = run(make(), params, GRADS.slice(3));
    expect(sameBits(restarted, straight)).toBe(false);
  });
});

describe.each([
  ['sgd', () => new Sgd({ lr: 0.05, momentum: 0.9 })],
  ['adam', () => new Adam({ lr: 0.01 })],
] as Array<[string, () => Optimizer]>)('%s state(reuse)', (_name, make) => {
  it('copies into the arrays of a state it gave before (same bytes as a fresh copy), and never into a state of another size', () => {
    const o = make();
    const p = cloneArrays(INITIAL);
    o.step(p, GRADS[0]);
    const old = o.state();
    o.step(p, GRADS[1]);
    const fresh = o.state();
    const reused = o.state(old);
    expect(sameBits(reused.slots, fresh.slots)).toBe(true);
    expect(reused.meta).toEqual(fresh.meta);
    for (const [key, a] of reused.slots) expect(a).toBe(old.slots.get(key)); // the same arrays, overwritten
    // Taking a state later leaves an earlier one alone unless it is handed in.
    o.step(p, GRADS[2]);
    expect(sameBits(o.state().slots, reused.slots)).toBe(false);
    expect(sameBits(fresh.slots, reused.slots)).toBe(true);
    // A state whose arrays do not fit is not written into.
    const small: OptimizerState = { slots: new Map([...old.slots].map(([k]) => [k, new Float32Array(1)])), meta: old.meta };
    const next = o.state(small);
    for (const [key, a] of next.slots) expect(a).not.toBe(small.slots.get(key));
  });
});

describe('optimizer state checks', () => {
  const adamState = (): OptimizerState => {
    const a = new Adam({ lr: 0.01 });
    run(a, cloneArrays(INITIAL), GRADS.slice(0, 2));
    return a.state();
  };
  const sgdState = (): OptimizerState => {
    const s = new Sgd({ lr: 0.01, momentum: 0.9 });
    run(s, cloneArrays(INITIAL), GRADS.slice(0, 2));
    return s.state();
  };

  it('load() refuses the other optimizer state', () => {
    expect(() => new Sgd({ lr: 0.1 }).load(adamState())).toThrow(OptimizerStateError);
    expect(() => new Sgd({ lr: 0.1 }).load(adamState())).toThrow(/holds adam state, spec asks for sgd/);
    expect(() => new Adam({ lr: 0.1 }).load(sgdState())).toThrow(/holds sgd state, spec asks for adam/);
  });

  it('load() refuses unexpected slot names even under the right optimizer name', () => {
    const s = sgdState();
    s.slots.set('exp_avg.decoder.weight', new Float32Array(6));
    expect(() => new Sgd({ lr: 0.1 }).load(s)).toThrow(/unexpected sgd state tensor exp_avg\.decoder\.weight/);
    const a = adamState();
    a.slots.set('momentum_buffer.decoder.weight', new Float32Array(6));
    expect(() => new Adam({ lr: 0.1 }).load(a)).toThrow(/unexpected adam state tensor momentum_buffer\.decoder\.weight/);
  });

  it('load() refuses an adam state whose exp_avg and exp_avg_sq do not pair up', () => {
    const a = adamState();
    a.slots.delete('exp_avg_sq.decoder.weight');
    expect(() => new Adam({ lr: 0.1 }).load(a)).toThrow(OptimizerStateError);
  });

  it('checkSlots refuses a slot for an unknown parameter or of the wrong size', () => {
    const a = adamState();
    expect(() => checkSlots(a, SHAPES)).not.toThrow();
    a.slots.set('exp_avg.rnn.weight_hh_l3', new Float32Array(4));
    expect(() => checkSlots(a, SHAPES)).toThrow(/exp_avg\.rnn\.weight_hh_l3 names no parameter/);
    const s = sgdState();
    s.slots.set('momentum_buffer.decoder.weight', new Float32Array(5));
    expect(() => checkSlots(s, SHAPES)).toThrow(/has 5 values, parameter decoder\.weight has 6/);
  });

  it('createOptimizer builds the named optimizer', () => {
    expect(createOptimizer({ name: 'adam', lr: 0.1 })).toBeInstanceOf(Adam);
    expect(createOptimizer({ name: 'sgd', lr: 0.1 })).toBeInstanceOf(Sgd);
  });
});
