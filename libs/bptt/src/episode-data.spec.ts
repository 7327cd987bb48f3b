import { selectBackend, tf, type NetworkState, type RecurrentNetwork } from '@unroll/models';
import { EpisodeSequenceData, type Episode } from './episode-data';
import { Sgd } from './optimizers';
import { Trainer } from './trainer';
import { windowGradients } from './window-gradients';
import { LSTM, maxAbsDiff, tinyTokenNet } from './testing';

const VOCAB = 6;
const PAD = 5;

beforeAll(async () => {
  await selectBackend('cpu');
});

/** Token episodes of the given lengths; the label (id length % 3) sits on the last step only. */
function endLabelled(lengths: number[]): Episode[] {
  return lengths.map((L, n) => {
    const input = Int32Array.from({ length: L }, (_, t) => (n + t) % PAD);
    const targets = new Int32Array(L);
    const mask = new Uint8Array(L);
    targets[L - 1] = L % 3;
    mask[L - 1] = 1;
    return { input, targets, mask };
  });
}

const layout = { input: { kind: 'tokens' as const, padId: PAD }, targets: { kind: 'classes' as const }, align: 'end' as const };

describe('EpisodeSequenceData', () => {
  it('pads each episode to whole windows, deals it to the shortest stream and marks where it starts', () => {
    const data = new EpisodeSequenceData(endLabelled([3, 5, 2, 4]), layout, 2, 2);
    // stream 0: [pad 3-steps] = 4, then 2 → 6; stream 1: 5 → 6, then 4 → 10.
    expect(data.positions).toBe(10);
    const w = data.window(0, 2, 0, 2);
    expect(Array.from(w.resets ?? [])).toEqual([1, 1]);
    expect(Array.from((w.input as { ids: Int32Array }).ids)).toEqual([PAD, PAD, 0, 1]);
    expect(Array.from(w.mask ?? [])).toEqual([0, 0, 0, 0]);
    const end0 = data.window(0, 1, 2, 2);
    expect(Array.from(end0.mask ?? [])).toEqual([0, 1]); // episode 0 (length 3) ends at position 3
    expect(Array.from(end0.resets ?? [])).toEqual([0]);
    expect(Array.from(data.window(0, 1, 4, 2).resets ?? [])).toEqual([1]); // episode 2 starts at 4
    expect(data.scored).toBe(4);
  });

  it('refuses fewer episodes than streams', () => {
    expect(() => new EpisodeSequenceData(endLabelled([3]), layout, 2, 2)).toThrow(/cannot fill 2 streams/);
  });
});

describe('masked windows and resets', () => {
  let net: RecurrentNetwork;
  beforeAll(() => (net = tinyTokenNet({ cell: LSTM, vocab: VOCAB })));
  afterAll(() => net.dispose());

  it('scores only masked rows: the same gradient as scoring that one row alone', () => {
    const data = new EpisodeSequenceData(endLabelled([4, 4]), layout, 2, 4).window(0, 2, 0, 4);
    const zero = net.zeroState(2);
    const masked = windowGradients(net, data, zero, { loss: 'cross-entropy' });
    expect(masked.count).toBe(2);
    // The same window unmasked, with the loss of every other row made zero-weight by
    // scoring only the last row (scoredFrom = T − 1).
    const last = windowGradients(net, { input: data.input, targets: data.targets }, zero, { loss: 'cross-entropy', scoredFrom: 3 });
    expect(masked.lossSum).toBeCloseTo(last.lossSum, 5);
    for (const [name, g] of masked.grads) expect(maxAbsDiff(g, last.grads.get(name) as Float32Array)).toBeLessThan(1e-6);
  });

  it('a window that scores nothing has count 0, a zero gradient and still carries the state', () => {
    const data = new EpisodeSequenceData(endLabelled([8, 8]), layout, 2, 4).window(0, 2, 0, 4);
    const job = windowGradients(net, data, net.zeroState(2), { loss: 'cross-entropy' });
    expect(job.count).toBe(0);
    for (const g of job.grads.values()) expect(g.every((v) => v === 0)).toBe(true);
    expect(job.carry[0].h.some((v) => v !== 0)).toBe(true);
  });

  it('zeroes the carried state of a stream whose episode starts at the window', () => {
    const data = new EpisodeSequenceData(endLabelled([4, 4]), layout, 2, 4).window(0, 2, 0, 4);
    const busy: NetworkState = net.zeroState(2).map((l) => ({ h: l.h.map(() => 0.7), c: l.c?.map(() => -0.3) }));
    const fromBusy = windowGradients(net, data, busy, { loss: 'cross-entropy' });
    const fromZero = windowGradients(net, data, net.zeroState(2), { loss: 'cross-entropy' });
    expect(fromBusy.lossSum).toBe(fromZero.lossSum);
  });

  it('micro-batching gives the same update, and unscored steps change no parameter', () => {
    const episodes = endLabelled([3, 7, 4, 2, 6, 5, 8, 3]);
    const run = (microBatch: number) => {
      const n = tinyTokenNet({ cell: LSTM, vocab: VOCAB, seed: 3 });
      const t = new Trainer({ net: n, data: new EpisodeSequenceData(episodes, layout, 4, 2), tbptt: { streams: 4, window: 2, stride: 2, microBatch }, loss: 'cross-entropy', optimizer: new Sgd({ lr: 0.5 }) });
      const results = Array.from({ length: t.schedule.windowsPerEpoch }, () => t.runStep());
      const params = n.snapshot();
      n.dispose();
      return { results, params };
    };
    const before = tf.memory().numTensors;
    const whole = run(4);
    const split = run(1);
    expect(tf.memory().numTensors).toBe(before);
    expect(whole.results.map((r) => r.tokens)).toEqual(split.results.map((r) => r.tokens));
    expect(whole.results.reduce((n, r) => n + r.tokens, 0)).toBe(8);
    for (const [name, p] of whole.params) expect(maxAbsDiff(p, split.params.get(name) as Float32Array)).toBeLessThan(1e-6);
    expect(whole.results.some((r) => r.tokens === 0 && r.loss === 0 && !r.skipped)).toBe(true);
  });
});
