/** The shape of one frame of a video (or of one window of sensor series): NHWC, channels last. */
export interface FrameShape {
  height: number;
  width: number;
  /** Channels per pixel (1 for a grey frame; one per sensor for sensor series). */
  channels: number;
}

export function frameSize(f: FrameShape): number {
  return f.height * f.width * f.channels;
}

export function assertFrame(f: FrameShape, what: string): void {
  for (const k of ['height', 'width', 'channels'] as const) {
    if (!Number.isInteger(f[k]) || f[k] < 1) throw new RangeError(`${what}.${k} must be a positive integer, got ${f[k]}`);
  }
}
