/**
 * A whole training run of a deep bidirectional peephole/coupled LSTM from a spec:
 * the spec maps to the network, windows are independent sequences (zero carry),
 * checkpoints use PyTorch's `_reverse` names for weights and stream states, and a
 * second run resumes from them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CheckpointStore } from '@unroll/checkpoint';
import { parseSpec } from '@unroll/spec';
import { runTraining, type RunEvent } from './training-run';
import { networkConfig } from './experiment';

const SPEC = `
apiVersion: unroll/v1
kind: Experiment
metadata: {name: bidi-tiny}
spec:
  seed: 3
  backend: cpu
  data: {dataset: text, path: corpus.txt, validationFraction: 0.2}
  model: {cell: lstm, peepholes: true, coupledGates: true, bidirectional: true, embedding: 4, hidden: 6, layers: 2}
  tbptt: {streams: 2, window: 6, independentWindows: true}
  loss: cross-entropy
  optimizer: {name: adam, lr: 0.03}
  steps: 6
  checkpoint: {every: 3, keep: 2}
  eval: {every: 0}
`;

let root: string;
beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'unroll-bidi-run-'));
  writeFileSync(path.join(root, 'corpus.txt'), 'abcabd abcabd abcabd abcabd abcabd abcabd abcabd abcabd abcabd abcabd\n'.repeat(3));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a bidirectional run from a spec', () => {
  const spec = parseSpec(SPEC, 'bidi.yaml');

  it('maps the spec fields to the network config', () => {
    const cfg = networkConfig(spec, { inputKind: 'tokens', inputSize: 7, outputSize: 7 } as Parameters<typeof networkConfig>[1]);
    expect(cfg).toMatchObject({ cell: { kind: 'lstm', peepholes: true, coupledGates: true }, bidirectional: true, layers: 2, hidden: 6 });
  });

  it('trains, checkpoints with PyTorch _reverse names and zero reverse states, and resumes', async () => {
    const out = path.join(root, 'ckpt');
    const events: RunEvent[] = [];
    const first = await runTraining({ spec, dataRoot: root, outDir: out, onEvent: (e) => events.push(e) });
    expect(first.steps).toBe(6);
    const losses = events.flatMap((e) => (e.type === 'step' ? [e.result.loss] : []));
    expect(losses.every(Number.isFinite)).toBe(true);
    const start = events.find((e) => e.type === 'start');
    expect(start && start.type === 'start' && start.model).toMatch(/^bidirectional lstm\(peepholes, coupled gates\) ×2/);

    const parts = await new CheckpointStore(out).load(first.checkpoint);
    const names = Object.keys(parts.model.tensors);
    for (const n of ['rnn.weight_ih_l1_reverse', 'rnn.weight_hh_l0_reverse', 'rnn.weight_ch_l1_reverse', 'rnn.bias_hh_l1_reverse']) expect(names).toContain(n);
    expect(parts.model.tensors['rnn.weight_ih_l1'].shape).toEqual([3 * 6, 2 * 6]);
    expect(parts.model.tensors['decoder.weight'].shape[1]).toBe(12);
    const state = parts.state.tensors;
    for (const n of ['streams.h_l0', 'streams.c_l0_reverse', 'streams.h_l1_reverse']) expect(Object.keys(state)).toContain(n);
    expect(Array.from(state['streams.h_l1'].data as Float32Array).every((v) => v === 0)).toBe(true);

    const resumed = await runTraining({ spec, dataRoot: root, outDir: out, steps: 8, onEvent: (e) => events.push(e) });
    expect(resumed.steps).toBe(8);
    expect(events.some((e) => e.type === 'start' && e.resumedFrom === 6)).toBe(true);
  }, 60_000);
});
