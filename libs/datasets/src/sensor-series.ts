/**
 * Synthetic multi-sensor series for the CNN + RNN example: which of four activities
 * produced three sensors' readings (the shape of accelerometer activity data, e.g.
 * UCI HAR, made from a seeded uniform source so the spec's seed fixes the data).
 *
 * A series is `steps` time steps of `samples` samples from each of SENSOR_COUNT = 3
 * sensors. Sensor s reads
 *
 *   x_s(n) = a_s · sin(2π n / P_s + φ_s) + noise · N(0, 1),   n = 0 … steps·samples − 1,
 *
 * with amplitude a_s ~ U(0.5, 1.5) and phase φ_s ~ U(0, 2π) drawn per series, and a
 * period P_s of FAST_PERIOD or SLOW_PERIOD samples set by the class c ∈ {0, 1, 2, 3}
 * with bits (b0, b1):  sensor 0 fast iff b0,  sensor 1 fast iff b1,  sensor 2 fast
 * iff b0 xor b1. Any one sensor gives one bit of the class, any two give all of it:
 * the class needs the sensors combined, the period needs a few samples (a convolution
 * over one step's samples) and the noise is averaged out over the steps (the RNN).
 *
 * Each step is one frame of height 1, width `samples`, channels 3, NHWC-flattened:
 * value (n mod samples) · 3 + s of step ⌊n / samples⌋ — the multi-head CNN's layout
 * (libs/models conv/cnn-encoder.ts), one head per sensor.
 */
import { gaussian, type Random } from './generated-tasks';

export const SENSOR_COUNT = 3;
export const SENSOR_CLASSES = 4;
/** Periods in samples: both fit a frame of 8 or more samples, and differ by 2×. */
export const FAST_PERIOD = 4;
export const SLOW_PERIOD = 8;

export interface SensorSeriesOptions {
  /** Time steps (frames) per series. */
  steps: number;
  /** Samples per step and sensor (the frame's width). */
  samples: number;
  /** Standard deviation of the Gaussian noise on every sample. */
  noise: number;
}

export interface SensorSeries {
  /** [steps × samples × SENSOR_COUNT], step-major, then sample, then sensor. */
  inputs: Float32Array;
  /** The activity, 0 … SENSOR_CLASSES − 1. */
  label: number;
}

/** Whether sensor s runs at the fast period for class `label`. */
export function sensorIsFast(label: number, s: number): boolean {
  const b0 = label & 1;
  const b1 = (label >> 1) & 1;
  return (s === 0 ? b0 : s === 1 ? b1 : b0 ^ b1) === 1;
}

/** `count` series, classes in turn (0, 1, 2, 3, 0, …), so the classes are balanced. */
export function sensorSeries(count: number, opts: SensorSeriesOptions, random: Random): SensorSeries[] {
  const { steps, samples, noise } = opts;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`sensor series steps must be an integer ≥ 1, got ${steps}`);
  if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`sensor series samples must be an integer ≥ 1, got ${samples}`);
  if (!(noise >= 0)) throw new RangeError(`sensor series noise must be ≥ 0, got ${noise}`);
  const n = steps * samples;
  return Array.from({ length: count }, (_, i) => {
    const label = i % SENSOR_CLASSES;
    const inputs = new Float32Array(n * SENSOR_COUNT);
    for (let s = 0; s < SENSOR_COUNT; s++) {
      const period = sensorIsFast(label, s) ? FAST_PERIOD : SLOW_PERIOD;
      const amplitude = 0.5 + random();
      const phase = 2 * Math.PI * random();
      for (let k = 0; k < n; k++) inputs[k * SENSOR_COUNT + s] = amplitude * Math.sin((2 * Math.PI * k) / period + phase) + noise * gaussian(random);
    }
    return { inputs, label };
  });
}
