import { movingShapesCsv, movingShapesVideo } from './moving-shapes';

describe('movingShapesVideo', () => {
  const opts = { frames: 30, size: 12, shapes: 2, shapeSize: 3, seed: 5 };

  it('is deterministic in its seed, binary, and never empty', () => {
    const v = movingShapesVideo(opts);
    expect(v).toEqual(movingShapesVideo(opts));
    expect(v).not.toEqual(movingShapesVideo({ ...opts, seed: 6 }));
    expect(v.every((p) => p === 0 || p === 1)).toBe(true);
    for (let t = 0; t < opts.frames; t++) expect(v.subarray(t * 144, (t + 1) * 144).some((p) => p === 1)).toBe(true);
  });

  it('moves: consecutive frames differ', () => {
    const v = movingShapesVideo(opts);
    for (let t = 0; t + 1 < opts.frames; t++) expect(v.subarray(t * 144, (t + 1) * 144)).not.toEqual(v.subarray((t + 1) * 144, (t + 2) * 144));
  });

  it('writes next-frame rows: frame t then frame t + 1', () => {
    const rows = movingShapesCsv(opts).trim().split('\n');
    const v = movingShapesVideo(opts);
    expect(rows).toHaveLength(opts.frames - 1);
    expect(rows[3].split(',').map(Number)).toEqual(Array.from(v.subarray(3 * 144, 5 * 144)));
  });
});
