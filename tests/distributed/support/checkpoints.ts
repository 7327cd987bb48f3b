/** Comparing the checkpoints two runs wrote (safetensors), tensor by tensor. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeSafetensors } from '@unroll/checkpoint';

/** max |a − b| over every tensor of two checkpoint files, which must hold the same tensor names and sizes. */
export function maxAbsDiffOfFiles(a: string, b: string): number {
  const x = decodeSafetensors(readFileSync(a));
  const y = decodeSafetensors(readFileSync(b));
  expect(Object.keys(y.tensors).sort()).toEqual(Object.keys(x.tensors).sort());
  let max = 0;
  for (const [name, t] of Object.entries(x.tensors)) {
    const p = t.data as Float32Array;
    const q = y.tensors[name].data as Float32Array;
    expect(q.length).toBe(p.length);
    for (let i = 0; i < p.length; i++) max = Math.max(max, Math.abs(p[i] - q[i]));
  }
  return max;
}

/** The checkpoint file of `step` in `dir` (the model, or with `state` the training state). */
export const stepFile = (dir: string, step: number, state = false): string => path.join(dir, `step-${String(step).padStart(8, '0')}${state ? '.state' : ''}.safetensors`);
