/**
 * Moving-shapes videos for next-frame prediction (the ConvLSTM example): generated
 * here from a seed, nothing downloaded. In the spirit of Moving MNIST (Srivastava et
 * al., 2015), with drawn shapes instead of digits so no data set is needed.
 *
 * One continuous grey video per stream: `shapes` shapes (filled squares, discs and
 * plus signs, 1 = ink, 0 = background) each move at a constant velocity of 1–2
 * pixels per frame and bounce off the frame's edges, overlapping shapes taking the
 * maximum. The motion never stops, so every frame's successor is predictable from
 * the frames before it and TBPTT can carry the state across windows.
 */

/** mulberry32: a small seeded uniform source in [0, 1) (datasets depends on no model code). */
function seeded(seed: number): (lo: number, hi: number) => number {
  let state = seed >>> 0;
  return (lo, hi) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  };
}

export interface MovingShapesOptions {
  /** Frames of the video. */
  frames: number;
  /** Frame height and width in pixels. @defaultValue 16 — small enough for the test suite */
  size?: number;
  /** Shapes moving at once. @defaultValue 2 — overlaps happen, but rarely hide a shape */
  shapes?: number;
  /** Side (bounding box) of every shape in pixels. @defaultValue 5 — odd, so discs and crosses are symmetric */
  shapeSize?: number;
  seed: number;
}

/** The video of examples/convlstm-moving-shapes.yaml: 4000 frames of 16×16, 2 shapes of 5 px, seed 2015. */
export const EXAMPLE_MOVING_SHAPES = { frames: 4000, size: 16, shapes: 2, shapeSize: 5, seed: 2015 } as const;

type Kind = 'square' | 'disc' | 'plus';

function ink(kind: Kind, dy: number, dx: number, r: number): boolean {
  switch (kind) {
    case 'square':
      return true;
    case 'disc':
      return dy * dy + dx * dx <= r * r + r;
    case 'plus':
      return Math.abs(dy) <= r / 3 || Math.abs(dx) <= r / 3;
  }
}

/** The video, [frames, size, size] row-major, values 0 or 1. */
export function movingShapesVideo(opts: MovingShapesOptions): Float32Array {
  const size = opts.size ?? 16;
  const side = opts.shapeSize ?? 5;
  const count = opts.shapes ?? 2;
  if (!Number.isInteger(opts.frames) || opts.frames < 1) throw new RangeError(`frames must be a positive integer, got ${opts.frames}`);
  if (side > size) throw new RangeError(`shapeSize ${side} does not fit a ${size}×${size} frame`);
  const uniform = seeded(opts.seed);
  const kinds: Kind[] = ['square', 'disc', 'plus'];
  const span = size - side;
  const shapes = Array.from({ length: count }, () => ({
    kind: kinds[Math.floor(uniform(0, kinds.length))],
    y: Math.floor(uniform(0, span + 1)),
    x: Math.floor(uniform(0, span + 1)),
    vy: (uniform(0, 1) < 0.5 ? -1 : 1) * (1 + Math.floor(uniform(0, 2))),
    vx: (uniform(0, 1) < 0.5 ? -1 : 1) * (1 + Math.floor(uniform(0, 2))),
  }));
  const r = (side - 1) / 2;
  const out = new Float32Array(opts.frames * size * size);
  for (let t = 0; t < opts.frames; t++) {
    const base = t * size * size;
    for (const s of shapes) {
      for (let dy = 0; dy < side; dy++)
        for (let dx = 0; dx < side; dx++) if (ink(s.kind, dy - r, dx - r, r)) out[base + (s.y + dy) * size + s.x + dx] = 1;
      // move, bouncing off the edges
      for (const [p, v] of [['y', 'vy'], ['x', 'vx']] as const) {
        let next = s[p] + s[v];
        if (next < 0 || next > span) {
          s[v] = -s[v];
          next = Math.min(span, Math.max(0, s[p] + s[v]));
        }
        s[p] = next;
      }
    }
  }
  return out;
}

/**
 * The video as next-frame rows (dataset `sequence`'s CSV layout): row t holds frame t
 * (size² inputs) then frame t + 1 (size² targets), frames − 1 rows.
 */
export function movingShapesCsv(opts: MovingShapesOptions): string {
  const size = opts.size ?? 16;
  const video = movingShapesVideo(opts);
  const px = size * size;
  const lines: string[] = [];
  for (let t = 0; t + 1 < opts.frames; t++) lines.push(Array.from(video.subarray(t * px, (t + 2) * px)).join(','));
  return lines.join('\n') + '\n';
}
