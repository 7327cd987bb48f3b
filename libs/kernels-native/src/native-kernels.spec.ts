/**
 * The addon's boundary and its threading. Numerical correctness of every cell
 * against the float64 reference and the tfjs path is tested where the reference
 * lives: libs/models/src/native-kernel.spec.ts.
 */
import { spawnSync } from 'node:child_process';
import { describeNative } from './testing';
import { loadNativeKernels, NATIVE_CELLS, type NativeCell, type NativeKernels } from './native-kernels';

const load = loadNativeKernels();
// Without the addon (no OpenBLAS here) there is nothing to test; CI builds it.
const kernels = (load.ok ? load.kernels : undefined) as NativeKernels;

function filled(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 0.6;
  }
  return a;
}

function windowInputs(cell: NativeCell, T: number, B: number, H: number, seed = 1) {
  const G = cell === 'lstm' ? 4 : cell.startsWith('gru') ? 3 : 1;
  return {
    xProj: filled(T * B * G * H, seed),
    wHh: filled(G * H * H, seed + 1),
    bHh: filled(G * H, seed + 2),
    h0: filled(B * H, seed + 3),
    c0: cell === 'lstm' ? filled(B * H, seed + 4) : undefined,
  };
}

describeNative('native kernels: the boundary', () => {
  it('reports its BLAS and gate-loop variant', () => {
    const info = kernels.info();
    expect(info.blas).toMatch(/OpenBLAS/);
    expect(info.threads).toBeGreaterThanOrEqual(1);
  });

  it('sgemm matches a plain triple loop for every transpose combination, on subarray views', () => {
    const m = 5, n = 7, k = 3;
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const backing = filled(200, 9);
      const a = backing.subarray(11, 11 + m * k); // a view with a byte offset: the addon must honour it
      const b = filled(k * n, 10);
      const c = filled(m * n, 12);
      const want = new Float64Array(m * n);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a[ta ? p * m + i : i * k + p] * b[tb ? j * k + p : p * n + j];
          want[i * n + j] = 2 * s + 0.5 * c[i * n + j];
        }
      kernels.binding.sgemm(ta, tb, m, n, k, 2, a, ta ? m : k, b, tb ? k : n, 0.5, c, n);
      c.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    }
  });

  it('refuses a short output with a RangeError naming the array, and writes nothing', () => {
    const T = 3, B = 2, H = 4;
    const x = windowInputs('lstm', T, B, H);
    const out = kernels.allocForward('lstm', { T, B, H });
    const guard = new Float32Array(T * B * H); // one short, inside a larger buffer
    const backing = new Float32Array(T * B * H + 8).fill(7);
    const short = backing.subarray(0, T * B * H - 1);
    expect(() => kernels.forward('lstm', { T, B, H }, x, { ...out, y: short })).toThrow(/y \[T·B, H\] must hold 24 values, got 23/);
    expect(Array.from(backing)).toEqual(new Array(T * B * H + 8).fill(7));
    expect(() => kernels.forward('lstm', { T, B, H }, { ...x, c0: undefined }, out)).toThrow(/c0 \[B, H\] must be a Float32Array/);
    expect(() => kernels.forward('lstm', { T: 0, B, H }, x, out)).toThrow(/T must be an integer ≥ 1/);
    expect(() => kernels.binding.windowForward(9, T, B, H, x.xProj, x.wHh, x.bHh, x.h0, null, guard, null, null)).toThrow(/unknown cell code 9/);
    expect(() => kernels.binding.sgemm(false, false, 4, 4, 4, 1, new Float32Array(16), 4, new Float32Array(16), 4, 0, new Float32Array(15), 4)).toThrow(/C must hold at least 16 values/);
    expect(() => kernels.binding.sgemm(false, false, 4, 4, 4, 1, new Float32Array(16), 3, new Float32Array(16), 4, 0, new Float32Array(16), 4)).toThrow(/leading dimension/);
  });

  it('refuses a Float64Array where a Float32Array is due', () => {
    const x = windowInputs('rnn-tanh', 2, 1, 3);
    const out = kernels.allocForward('rnn-tanh', { T: 2, B: 1, H: 3 });
    expect(() => kernels.forward('rnn-tanh', { T: 2, B: 1, H: 3 }, { ...x, h0: new Float64Array(3) as unknown as Float32Array }, out)).toThrow(/h0 \[B, H\] must be a Float32Array/);
  });

  it('refuses a window whose arrays would pass 2^31 elements', () => {
    expect(() => kernels.binding.savedLength(NATIVE_CELLS.lstm, 1 << 12, 1 << 10, 1 << 10)).toThrow(/below 2\^31/);
  });
});

describeNative('native kernels: off the main thread', () => {
  const cells = Object.keys(NATIVE_CELLS) as NativeCell[];

  it.each(cells)('%s: the async window gives the same bits as the sync one', async (cell) => {
    const d = { T: 6, B: 3, H: 8 };
    const x = windowInputs(cell, d.T, d.B, d.H, 5);
    const syncF = kernels.allocForward(cell, d);
    const asyncF = kernels.allocForward(cell, d);
    kernels.forward(cell, d, x, syncF);
    await kernels.forwardAsync(cell, d, x, asyncF);
    expect(asyncF).toEqual(syncF);
    const g = { dY: filled(d.T * d.B * d.H, 7), dHT: filled(d.B * d.H, 8), dCT: cell === 'lstm' ? filled(d.B * d.H, 9) : undefined };
    const syncB = kernels.allocBackward(cell, d);
    const asyncB = kernels.allocBackward(cell, d);
    kernels.backward(cell, d, x, syncF, g, syncB);
    await kernels.backwardAsync(cell, d, x, asyncF, g, asyncB);
    expect(asyncB).toEqual(syncB);
  });

  it('keeps the event loop responsive while windows compute', async () => {
    // A window big enough that a blocked loop's lag — a whole forward or backward,
    // about syncStall / 2 — stands well above the scheduling noise of a busy 2-core
    // machine (up to ~90 ms measured): its length is raised until the synchronous
    // forward and backward take at least 400 ms on this machine.
    const cell: NativeCell = 'lstm';
    const window = (T: number) => {
      const d = { T, B: 32, H: 640 };
      const x = windowInputs(cell, d.T, d.B, d.H, 3);
      const fwd = kernels.allocForward(cell, d);
      const back = kernels.allocBackward(cell, d);
      const g = { dY: filled(d.T * d.B * d.H, 4), dHT: filled(d.B * d.H, 5), dCT: filled(d.B * d.H, 6) };
      const s0 = performance.now();
      kernels.forward(cell, d, x, fwd);
      kernels.backward(cell, d, x, fwd, g, back);
      return { d, x, fwd, back, g, syncStall: performance.now() - s0 };
    };
    let w = window(35);
    if (w.syncStall < 400) w = window(Math.ceil((35 * 450) / w.syncStall));
    const { d, x, fwd, back, g, syncStall } = w;
    let worst = 0;
    let ticks = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last - 5);
      last = now;
      ticks++;
    }, 5);
    const t0 = performance.now();
    for (let i = 0; i < 2; i++) {
      await kernels.forwardAsync(cell, d, x, fwd);
      await kernels.backwardAsync(cell, d, x, fwd, g, back);
    }
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(elapsed / 5 / 4);
    // A blocked loop would show about syncStall / 2 (≥ 200 ms); off the main thread the lag is scheduling noise.
    expect(worst).toBeLessThan(Math.max(50, syncStall / 4));
  }, 60_000);

  it('sets the BLAS thread count', () => {
    const before = kernels.info().threads;
    kernels.setThreads(1);
    expect(kernels.info().threads).toBe(1);
    kernels.setThreads(before);
    expect(() => kernels.setThreads(0)).toThrow(/threads must be an integer ≥ 1/);
  });
});

describeNative('native kernels: head and optimizer', () => {
  it('adam follows torch.optim.Adam (L2 decay) step for step', () => {
    const n = 37;
    const p = filled(n, 1);
    const pRef = Float64Array.from(p);
    const m = new Float32Array(n), v = new Float32Array(n);
    const mRef = new Float64Array(n), vRef = new Float64Array(n);
    const [lr, b1, b2, eps, wd] = [1e-2, 0.9, 0.999, 1e-8, 0.01];
    for (let t = 1; t <= 5; t++) {
      const g = filled(n, 10 + t);
      kernels.binding.adam(p, g, m, v, lr, b1, b2, eps, wd, t);
      for (let i = 0; i < n; i++) {
        const d = g[i] + wd * pRef[i];
        mRef[i] = b1 * mRef[i] + (1 - b1) * d;
        vRef[i] = b2 * vRef[i] + (1 - b2) * d * d;
        pRef[i] -= ((lr / (1 - b1 ** t)) * mRef[i]) / (Math.sqrt(vRef[i]) / Math.sqrt(1 - b2 ** t) + eps);
      }
    }
    p.forEach((x, i) => expect(x).toBeCloseTo(pRef[i], 5));
    expect(() => kernels.binding.adam(p, new Float32Array(3), m, v, lr, b1, b2, eps, wd, 6)).toThrow(/g \(as p\) must hold 37 values, got 3/);
  });

  it('linearXent refuses a target outside [0, V) before writing', () => {
    const dh = new Float32Array(2 * 3).fill(5);
    expect(() =>
      kernels.binding.linearXent(2, 3, 4, new Float32Array(6), new Float32Array(12), new Float32Array(4), Int32Array.from([1, 4]), 1, new Float32Array(8), dh, new Float32Array(12), new Float32Array(4)),
    ).toThrow(/target 4 at row 1 is outside \[0, 4\)/);
    expect(Array.from(dh)).toEqual([5, 5, 5, 5, 5, 5]);
  });
});

describeNative('native kernels: OpenMP wait policy', () => {
  // Each case loads the addon in a fresh process: libgomp reads the variable once.
  const policyAfterLoad = (env: NodeJS.ProcessEnv): string => {
    const script = `const { loadNativeKernels } = require(${JSON.stringify(require.resolve('./native-kernels'))}); const l = loadNativeKernels(); process.stdout.write((l.ok ? 'ok ' : 'failed ') + process.env.OMP_WAIT_POLICY);`;
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout;
  };

  it('sets PASSIVE before the first load when the environment does not choose', () => {
    const env = { ...process.env };
    delete env.OMP_WAIT_POLICY;
    expect(policyAfterLoad(env)).toBe('ok PASSIVE');
  });

  it('keeps a policy the environment sets', () => {
    expect(policyAfterLoad({ ...process.env, OMP_WAIT_POLICY: 'ACTIVE' })).toBe('ok ACTIVE');
  });
});
