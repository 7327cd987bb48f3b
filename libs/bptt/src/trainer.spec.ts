import { selectBackend, tf, type CellConfig, type RecurrentNetwork } from '@unroll/models';
import { gradientStats, scale } from './gradients';
import { Adam, Sgd, type Optimizer } from './optimizers';
import { ScheduleError, type TbpttConfig } from './schedule';
import { DenseSequenceData, type SequenceData } from './sequence-data';
import { MissingStateError } from './state-store';
import { Trainer, type TrainerOptions } from './trainer';
import { windowGradients } from './window-gradients';
import {
  cloneArrays,
  denseValues,
  GRU,
  LSTM,
  maxAbsDiff,
  paramsMaxAbsDiff,
  RecordingData,
  RecordingStateStore,
  sameBits,
  TANH,
  tinyDenseNet,
  tinyTokenNet,
  tokenData,
} from './testing';

const VOCAB = 7;

beforeAll(async () => {
  await selectBackend('cpu');
});

const nets: RecurrentNetwork[] = [];
afterAll(() => nets.forEach((n) => n.dispose()));

function track(net: RecurrentNetwork): RecurrentNetwork {
  nets.push(net);
  return net;
}

function tokenTrainer(cell: CellConfig, tbptt: TbpttConfig, optimizer: Optimizer, extra: Partial<TrainerOptions> = {}, layers = 1): { t: Trainer; net: RecurrentNetwork } {
  const net = track(tinyTokenNet({ cell, vocab: VOCAB, layers }));
  const data = tokenData(tbptt.streams * 40, VOCAB, tbptt.streams, 11);
  return { t: new Trainer({ net, data, tbptt, loss: 'cross-entropy', optimizer, ...extra }), net };
}

describe('Trainer schedule and state', () => {
  it('reads window k at k·k1, carries state within an epoch and restarts from zeros at the next', () => {
    const net = track(tinyTokenNet({ cell: LSTM, vocab: VOCAB }));
    const data = new RecordingData(tokenData(2 * 14, VOCAB, 2, 3)); // 13 positions per stream
    const store = new RecordingStateStore();
    const tbptt = { streams: 2, window: 5, stride: 3, microBatch: 1 };
    const trainer = new Trainer({ net, data, store, tbptt, loss: 'cross-entropy', optimizer: new Sgd({ lr: 0.1 }) });
    const W = trainer.schedule.windowsPerEpoch;
    expect(W).toBe(3); // starts 0, 3, 6 (6 + 5 ≤ 13)
    const results = Array.from({ length: W + 2 }, () => trainer.runStep());
    expect(results.map((r) => [r.step, r.epoch, r.window])).toEqual([
      [0, 0, 0],
      [1, 0, 1],
      [2, 0, 2],
      [3, 1, 0],
      [4, 1, 1],
    ]);
    // One request per micro-batch (streams [0,1) and [1,2)) per step.
    expect(data.requests.map((q) => [q.firstStream, q.count, q.start, q.T])).toEqual(
      [0, 3, 6, 0, 3].flatMap((start) => [
        [0, 1, start, 5],
        [1, 1, start, 5],
      ]),
    );
    // The store is read for windows 1 and 2 of each epoch, never for window 0.
    expect(store.reads.map((r) => [r.first, r.step])).toEqual([
      [0, 1],
      [1, 1],
      [0, 2],
      [1, 2],
      [0, 4],
      [1, 4],
    ]);
    expect(store.reads.every((r) => r.state !== undefined)).toBe(true);
    expect(results.every((r) => r.tokens === 2 * 3)).toBe(true); // k1 scored positions × streams
  });

  it('refuses data whose stream count is not tbptt.streams', () => {
    const net = track(tinyTokenNet({ cell: GRU, vocab: VOCAB }));
    const data = tokenData(100, VOCAB, 4, 1);
    expect(() => new Trainer({ net, data, tbptt: { streams: 2, window: 4, stride: 4, microBatch: 2 }, loss: 'cross-entropy', optimizer: new Sgd({ lr: 1 }) })).toThrow(/data has 4 streams, tbptt\.streams is 2/);
  });

  it('refuses data too short for one window', () => {
    const net = track(tinyTokenNet({ cell: GRU, vocab: VOCAB }));
    const data = tokenData(4 * 4, VOCAB, 4, 1); // 3 positions per stream
    expect(() => new Trainer({ net, data, tbptt: { streams: 4, window: 4, stride: 4, microBatch: 4 }, loss: 'cross-entropy', optimizer: new Sgd({ lr: 1 }) })).toThrow(ScheduleError);
  });

  it('refuses to start mid-epoch without the stored state', () => {
    const { t } = tokenTrainer(GRU, { streams: 2, window: 4, stride: 4, microBatch: 2 }, new Sgd({ lr: 1 }), { startStep: 1 });
    expect(() => t.runStep()).toThrow(MissingStateError);
  });
});

describe('gradient accumulation over micro-batches', () => {
  it.each([
    ['lstm', LSTM, 4],
    ['gru', GRU, 4],
    ['lstm, k1 < k2', LSTM, 3],
  ] as Array<[string, CellConfig, number]>)('%s: microBatch = streams and streams / 4 give the same parameters after 3 steps', (_name, cell, stride) => {
    const run = (microBatch: number) => {
      const { t } = tokenTrainer(cell, { streams: 8, window: 4, stride, microBatch }, new Sgd({ lr: 0.5, momentum: 0.9 }));
      const initial = cloneArrays(t.params);
      const losses = [0, 1, 2].map(() => t.runStep().loss);
      return { t, initial, losses };
    };
    const whole = run(8);
    const parts = run(2);
    expect(sameBits(whole.initial, parts.initial)).toBe(true);
    // The steps move the parameters far more than the tolerance.
    expect(paramsMaxAbsDiff(whole.t.params, whole.initial)).toBeGreaterThan(1e-2);
    expect(paramsMaxAbsDiff(whole.t.params, parts.t.params)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(whole.losses, parts.losses)).toBeLessThanOrEqual(1e-6);
  });
});

describe('tensor hygiene', () => {
  it('leaks no tensor over 100 steps', () => {
    const { t } = tokenTrainer(LSTM, { streams: 4, window: 4, stride: 3, microBatch: 2 }, new Adam({ lr: 0.01 }), { clipNorm: 0.5 }, 2);
    t.runStep(); // first-use allocations (backend kernels) happen outside the count
    const before = tf.memory().numTensors;
    let flowKeys: string[] = [];
    for (let i = 0; i < 100; i++) flowKeys = Object.keys(t.runStep().flow);
    expect(tf.memory().numTensors).toBe(before);
    expect(flowKeys).toEqual(['rnn.l0', 'rnn.l1']);
  });
});

describe('non-finite gradients', () => {
  it('a NaN parameter skips the step: parameters and optimizer state stay, the skip is counted', () => {
    const opt = new Adam({ lr: 0.01 });
    const { t, net } = tokenTrainer(LSTM, { streams: 2, window: 4, stride: 4, microBatch: 1 }, opt);
    t.runStep();
    const poisoned = cloneArrays(t.params);
    (poisoned.get('decoder.bias') as Float32Array)[0] = Number.NaN;
    t.loadParams(poisoned);
    const optBefore = opt.state();
    const r = t.runStep();
    expect(r.skipped).toBe(true);
    expect(Number.isFinite(r.gradNorm)).toBe(false);
    expect(r.clipped).toBe(false);
    expect(t.counters).toEqual({ skipped: 1, clipped: 0 });
    expect(sameBits(t.params, poisoned)).toBe(true);
    expect(sameBits(net.snapshot(), poisoned)).toBe(true);
    const optAfter = opt.state();
    expect(optAfter.meta).toEqual(optBefore.meta);
    expect(sameBits(optAfter.slots, optBefore.slots)).toBe(true);
  });

  it('an overflowing gradient skips its step and the next finite step proceeds', () => {
    // Dense SSE data, 2 streams × 8 rows of (x, d). Window 0 of stream 0 holds two
    // targets of 3e38: each residual is finite in float32, their sum in ∂L/∂c is not.
    const values = denseValues(16, 1, 1, 21, 0.5);
    values[1 * 2 + 1] = 3e38;
    values[2 * 2 + 1] = 3e38;
    const data = new DenseSequenceData(values, 1, 1, 2);
    const net = track(tinyDenseNet(TANH, 1, 4, 1));
    const t = new Trainer({ net, data, tbptt: { streams: 2, window: 4, stride: 4, microBatch: 2 }, loss: 'sse', optimizer: new Sgd({ lr: 0.1, momentum: 0.9 }) });
    const initial = cloneArrays(t.params);

    const r0 = t.runStep();
    expect(r0.skipped).toBe(true);
    expect(t.counters.skipped).toBe(1);
    expect(sameBits(t.params, initial)).toBe(true);

    const r1 = t.runStep();
    expect(r1.skipped).toBe(false);
    expect(Number.isFinite(r1.loss) && Number.isFinite(r1.gradNorm)).toBe(true);
    expect(t.counters.skipped).toBe(1);
    expect(paramsMaxAbsDiff(t.params, initial)).toBeGreaterThan(1e-4);
    expect(Number.isFinite(paramsMaxAbsDiff(t.params, initial))).toBe(true);
  });
});

describe('clipping', () => {
  const tbptt = { streams: 4, window: 4, stride: 4, microBatch: 2 };

  /** The step-0 gradient of the mean loss, computed outside the Trainer on all streams at once. */
  function referenceGradient(t: Trainer, net: RecurrentNetwork, data: SequenceData) {
    const job = windowGradients(net, data.window(0, tbptt.streams, 0, tbptt.window), net.zeroState(tbptt.streams), { loss: 'cross-entropy' });
    scale(job.grads, 1 / job.count);
    return { g: job.grads, norm: gradientStats(job.grads).norm, initial: cloneArrays(t.params) };
  }

  function trainerWith(clipNorm: number | undefined) {
    const net = track(tinyTokenNet({ cell: GRU, vocab: VOCAB }));
    const data = tokenData(tbptt.streams * 40, VOCAB, tbptt.streams, 11);
    const t = new Trainer({ net, data, tbptt, loss: 'cross-entropy', optimizer: new Sgd({ lr: 1 }), clipNorm });
    return { t, net, data };
  }

  it('with a small clipNorm: clippedNorm ≈ clipNorm and the update is −lr·(clipped gradient)', () => {
    const probe = trainerWith(undefined);
    const ref = referenceGradient(probe.t, probe.net, probe.data);
    const clipNorm = ref.norm / 10;
    const { t } = trainerWith(clipNorm);
    const r = t.runStep();
    expect(Math.abs(r.gradNorm - ref.norm) / ref.norm).toBeLessThanOrEqual(1e-5);
    expect(r.clipped).toBe(true);
    expect(Math.abs(r.clippedNorm - clipNorm) / clipNorm).toBeLessThanOrEqual(1e-5);
    expect(t.counters.clipped).toBe(1);
    const factor = clipNorm / (ref.norm + 1e-6);
    for (const [name, p0] of ref.initial) {
      const g = ref.g.get(name) as Float32Array;
      const want = p0.map((p, i) => p - factor * g[i]);
      expect([name, maxAbsDiff(t.params.get(name) as Float32Array, want) <= 1e-6]).toEqual([name, true]);
    }
    // Unclipped, the same step goes 10× further (the comparison can fail).
    probe.t.runStep();
    expect(paramsMaxAbsDiff(probe.t.params, t.params)).toBeGreaterThan(1e-3);
  });

  it('with a large clipNorm nothing changes', () => {
    const plain = trainerWith(undefined);
    const loose = trainerWith(1e6);
    const rp = plain.t.runStep();
    const rl = loose.t.runStep();
    expect(rl.clipped).toBe(false);
    expect(rl.clippedNorm).toBe(rl.gradNorm);
    expect(rl.gradNorm).toBe(rp.gradNorm);
    expect(loose.t.counters.clipped).toBe(0);
    expect(sameBits(loose.t.params, plain.t.params)).toBe(true);
  });
});

describe('gradient flow across time', () => {
  // A tanh RNN (hidden 8) scored only at the window's last step (window 8, stride 1:
  // scoredFrom = 7), tiny inputs so the state stays near 0 where tanh′ ≈ 1, and
  // W_hh = g·P with P a cyclic permutation (every singular value is g). Then
  // ∂L/∂h_{t−1} = W_hhᵀ·diag(1 − h_t²)·∂L/∂h_t, so ‖∂L/∂h‖ at lag L is about
  // g^(L−1) times the one at lag 1 — at most that, since 1 − h² ≤ 1: the lecture's
  // product of Jacobians, vanishing for g < 1 and exploding for g > 1.
  const H = 8;
  const T = 8;

  function flowFor(gain: number) {
    const net = track(tinyDenseNet(TANH, 2, H, 1, 5));
    const data = new DenseSequenceData(denseValues(2 * 20, 2, 1, 9, 1e-3), 2, 1, 2);
    const t = new Trainer({ net, data, tbptt: { streams: 2, window: T, stride: 1, microBatch: 1 }, loss: 'sse', optimizer: new Sgd({ lr: 0 }) });
    const p = cloneArrays(t.params);
    const whh = p.get('rnn.weight_hh_l0') as Float32Array;
    whh.fill(0);
    for (let i = 0; i < H; i++) whh[i * H + ((i + 1) % H)] = gain;
    (p.get('rnn.bias_ih_l0') as Float32Array).fill(0);
    (p.get('rnn.bias_hh_l0') as Float32Array).fill(0);
    t.loadParams(p);
    const r = t.runStep();
    expect(r.tokens).toBe(2); // one scored position per stream
    const flow = r.flow['rnn.l0'];
    expect(flow.map((f) => f.lag)).toEqual([1, 2, 4, 8]);
    return flow.map((f) => f.norm);
  }

  it('vanishes with small recurrent weights (g = 0.25)', () => {
    const [l1, l2, l4, l8] = flowFor(0.25);
    expect(l1).toBeGreaterThan(0);
    expect(l2).toBeLessThanOrEqual(0.25 * l1 * (1 + 1e-5));
    expect(l4).toBeLessThanOrEqual(0.25 ** 3 * l1 * (1 + 1e-5));
    expect(l8).toBeLessThanOrEqual(0.25 ** 7 * l1 * (1 + 1e-5));
    expect(l8).toBeLessThan(1e-3 * l1);
  });

  it('explodes with large recurrent weights (g = 1.5)', () => {
    const [l1, l2, l4, l8] = flowFor(1.5);
    expect(l2).toBeGreaterThan(l1);
    expect(l4).toBeGreaterThan(l2);
    expect(l8).toBeGreaterThan(l4);
    // Close to the linear-regime growth g^7 ≈ 17.1, tanh′ shaving a little off.
    expect(l8 / l1).toBeGreaterThan(0.9 * 1.5 ** 7);
    expect(l8 / l1).toBeLessThanOrEqual(1.5 ** 7 * (1 + 1e-5));
  });
});
