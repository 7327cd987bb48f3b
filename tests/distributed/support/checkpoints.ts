/** Comparing the checkpoints two runs wrote (safetensors), tensor by tensor. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeSafetensors, modelFileName, stateFileName } from '@unroll/checkpoint';

/**
 * max |a − b| over every tensor of two checkpoint files, which must hold the same
 * tensor names and sizes (with `shapes`, the same shapes); also the tensor count and
 * both files' metadata.
 */
export function checkpointDiff(a: string, b: string, o: { shapes?: boolean } = {}): { max: number; tensors: number; metadata: [Record<string, unknown>, Record<string, unknown>] } {
  const x = decodeSafetensors(readFileSync(a));
  const y = decodeSafetensors(readFileSync(b));
  expect(Object.keys(y.tensors).sort()).toEqual(Object.keys(x.tensors).sort());
  let max = 0;
  for (const [name, t] of Object.entries(x.tensors)) {
    const u = y.tensors[name];
    if (o.shapes) expect(u.shape).toEqual(t.shape);
    const p = t.data as Float32Array;
    const q = u.data as Float32Array;
    expect(q.length).toBe(p.length);
    for (let i = 0; i < p.length; i++) max = Math.max(max, Math.abs(p[i] - q[i]));
  }
  return { max, tensors: Object.keys(x.tensors).length, metadata: [x.metadata, y.metadata] };
}

/** max |a − b| over every tensor of two checkpoint files, which must hold the same tensor names and sizes. */
export function maxAbsDiffOfFiles(a: string, b: string): number {
  return checkpointDiff(a, b).max;
}

/** The checkpoint file of `step` in `dir` (the model, or with `state` the training state). */
export const stepFile = (dir: string, step: number, state = false): string => path.join(dir, state ? stateFileName(step) : modelFileName(step));
