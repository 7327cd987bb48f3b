import { FAST_PERIOD, SENSOR_CLASSES, SENSOR_COUNT, sensorIsFast, sensorSeries, SLOW_PERIOD } from './sensor-series';

/** A deterministic source in [0, 1) (a golden-ratio Weyl sequence): enough to fix the draws. */
function seeded(start: number): () => number {
  let x = start / 10;
  return () => (x = (x + 0.6180339887498949) % 1);
}

describe('sensorSeries', () => {
  const opts = { steps: 4, samples: 16, noise: 0 };

  it('lays out steps × samples × 3 sensors, classes in turn, the same for the same seed', () => {
    const a = sensorSeries(8, opts, seeded(3));
    expect(a.map((s) => s.label)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    for (const s of a) expect(s.inputs.length).toBe(opts.steps * opts.samples * SENSOR_COUNT);
    expect(sensorSeries(8, opts, seeded(3))).toEqual(a);
  });

  it('without noise, sensor s of class c repeats with its period: fast iff (b0, b1, b0 xor b1)[s]', () => {
    expect([0, 1, 2, 3].map((c) => [0, 1, 2].map((s) => sensorIsFast(c, s)))).toEqual([
      [false, false, false],
      [true, false, true],
      [false, true, true],
      [true, true, false],
    ]);
    const n = opts.steps * opts.samples;
    for (const { inputs, label } of sensorSeries(4 * SENSOR_CLASSES, opts, seeded(5))) {
      for (let s = 0; s < SENSOR_COUNT; s++) {
        const x = (k: number) => inputs[k * SENSOR_COUNT + s];
        const gap = (p: number) => Math.max(...Array.from({ length: n - p }, (_, k) => Math.abs(x(k + p) - x(k))));
        const fast = sensorIsFast(label, s);
        expect(gap(fast ? FAST_PERIOD : SLOW_PERIOD)).toBeLessThan(1e-5);
        // A slow sensor does not repeat after the fast period.
        if (!fast) expect(gap(FAST_PERIOD)).toBeGreaterThan(0.1);
      }
    }
  });

  it('refuses shapes it cannot build', () => {
    expect(() => sensorSeries(1, { ...opts, steps: 0 }, seeded(1))).toThrow('sensor series steps must be an integer ≥ 1, got 0');
    expect(() => sensorSeries(1, { ...opts, noise: -1 }, seeded(1))).toThrow('sensor series noise must be ≥ 0, got -1');
  });
});
