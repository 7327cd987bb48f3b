import { ScheduleError, TbpttSchedule, type TbpttConfig } from './schedule';

const cfg = (window: number, stride: number, streams = 4, microBatch = streams): TbpttConfig => ({ streams, window, stride, microBatch });

/** Window starts counted one by one: s = 0, k1, 2·k1, … while the window [s, s + k2) fits in P. */
function startsByCounting(P: number, k2: number, k1: number): number[] {
  const out: number[] = [];
  for (let s = 0; s + k2 <= P; s += k1) out.push(s);
  return out;
}

const CASES: Array<[P: number, k2: number, k1: number]> = [
  [12, 4, 4],
  [13, 4, 4],
  [15, 4, 4],
  [4, 4, 4],
  [10, 5, 2],
  [11, 5, 2],
  [20, 6, 1],
  [9, 3, 2],
  [100, 7, 3],
];

describe('TbpttSchedule', () => {
  it.each(CASES)('has one window per start that fits (P = %i, k2 = %i, k1 = %i)', (P, k2, k1) => {
    const s = new TbpttSchedule(cfg(k2, k1), P);
    const expected = startsByCounting(P, k2, k1);
    expect(s.windowsPerEpoch).toBe(expected.length);
    expect(Array.from({ length: s.windowsPerEpoch }, (_, i) => s.windowAt(i).start)).toEqual(expected);
  });

  it('splits into disjoint windows when k1 = k2', () => {
    const s = new TbpttSchedule(cfg(4, 4), 14);
    // 14 positions: windows [0,4) [4,8) [8,12); the last 2 positions are dropped.
    expect(s.windowsPerEpoch).toBe(3);
    expect([0, 1, 2].map((i) => s.windowAt(i).start)).toEqual([0, 4, 8]);
    expect(s.scoredFrom).toBe(0);
  });

  it('advances k1 and overlaps by k2 − k1 when k1 < k2', () => {
    const s = new TbpttSchedule(cfg(5, 2), 11);
    // starts 0, 2, 4, 6 (6 + 5 = 11 fits; 8 + 5 = 13 does not)
    expect(s.windowsPerEpoch).toBe(4);
    expect([0, 1, 2, 3].map((i) => s.windowAt(i).start)).toEqual([0, 2, 4, 6]);
    expect(s.scoredFrom).toBe(3);
  });

  it.each(CASES)('scores every position from k2 − k1 on exactly once (P = %i, k2 = %i, k1 = %i)', (P, k2, k1) => {
    const s = new TbpttSchedule(cfg(k2, k1), P);
    const hits = new Array<number>(P).fill(0);
    for (let i = 0; i < s.windowsPerEpoch; i++) {
      const { start } = s.windowAt(i);
      expect(start + k2).toBeLessThanOrEqual(P);
      for (let row = s.scoredFrom; row < k2; row++) hits[start + row]++;
    }
    const lastScored = s.windowAt(s.windowsPerEpoch - 1).start + k2;
    for (let p = 0; p < P; p++) expect([p, hits[p]]).toEqual([p, p >= k2 - k1 && p < lastScored ? 1 : 0]);
    // What is left unscored at the end is shorter than one stride.
    expect(P - lastScored).toBeLessThan(k1);
  });

  it('wraps around into the next epoch from window 0', () => {
    const s = new TbpttSchedule(cfg(5, 2), 11);
    const W = s.windowsPerEpoch;
    expect(s.windowAt(W - 1)).toEqual({ step: W - 1, epoch: 0, index: W - 1, start: 6 });
    expect(s.windowAt(W)).toEqual({ step: W, epoch: 1, index: 0, start: 0 });
    expect(s.windowAt(2 * W + 1)).toEqual({ step: 2 * W + 1, epoch: 2, index: 1, start: 2 });
  });

  it('groups streams into micro-batches that cover every stream once, in order', () => {
    expect(new TbpttSchedule(cfg(4, 4, 8, 2), 8).microBatches()).toEqual([
      [0, 2],
      [2, 2],
      [4, 2],
      [6, 2],
    ]);
    expect(new TbpttSchedule(cfg(4, 4, 6, 6), 8).microBatches()).toEqual([[0, 6]]);
    expect(new TbpttSchedule(cfg(4, 4, 3, 1), 8).microBatches()).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
    ]);
  });

  describe('refuses', () => {
    it('a stride longer than the window', () => {
      expect(() => new TbpttSchedule(cfg(4, 5), 20)).toThrow(ScheduleError);
      expect(() => new TbpttSchedule(cfg(4, 5), 20)).toThrow(/tbptt\.stride must be ≤ window \(4\), got 5/);
    });

    it('a micro-batch that does not divide the streams', () => {
      expect(() => new TbpttSchedule(cfg(4, 4, 6, 4), 20)).toThrow(/tbptt\.microBatch \(4\) must divide tbptt\.streams \(6\)/);
      expect(() => new TbpttSchedule(cfg(4, 4, 4, 8), 20)).toThrow(ScheduleError);
    });

    it('streams shorter than one window', () => {
      expect(() => new TbpttSchedule(cfg(4, 4), 3)).toThrow(ScheduleError);
      expect(() => new TbpttSchedule(cfg(4, 4), 3)).toThrow(/3 positions, fewer than one window of 4/);
      expect(() => new TbpttSchedule(cfg(4, 4), 0)).toThrow(ScheduleError);
    });

    it.each([
      ['streams', { streams: 0 }],
      ['window', { window: 0 }],
      ['stride', { stride: -1 }],
      ['microBatch', { microBatch: 1.5 }],
      ['window', { window: Number.NaN }],
    ])('a non-positive or fractional tbptt.%s', (name, patch) => {
      expect(() => new TbpttSchedule({ ...cfg(4, 4), ...patch }, 20)).toThrow(new RegExp(`tbptt\\.${name} must be a positive integer`));
    });

    it('a negative or fractional step', () => {
      const s = new TbpttSchedule(cfg(4, 4), 20);
      expect(() => s.windowAt(-1)).toThrow(ScheduleError);
      expect(() => s.windowAt(0.5)).toThrow(ScheduleError);
    });
  });
});
