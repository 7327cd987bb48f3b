/**
 * Tiny experiments for the distributed tests: a generated corpus in a fresh data
 * root and specs small enough for the cpu backend (a few ms per window).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TinySpecOptions {
  name?: string;
  cell?: 'lstm' | 'gru' | 'rnn';
  hidden?: number;
  layers?: number;
  steps?: number;
  every?: number;
  workers?: number;
  /** workers.min when it is not `workers` (then `workers` is the max). */
  minWorkers?: number;
  /** tbptt as YAML flow mapping. */
  tbptt?: string;
  optimizer?: string;
  clipNorm?: number;
}

export function tinySpec(o: TinySpecOptions = {}): string {
  return `apiVersion: unroll/v1
kind: Experiment
metadata: {name: ${o.name ?? 'tiny'}}
spec:
  seed: 5
  backend: cpu
  data: {dataset: text, path: corpus.txt, validationFraction: 0.1}
  model: {cell: ${o.cell ?? 'lstm'}, embedding: 8, hidden: ${o.hidden ?? 12}, layers: ${o.layers ?? 2}}
  tbptt: ${o.tbptt ?? '{streams: 6, window: 6, stride: 4, microBatch: 2}'}
  loss: cross-entropy
  optimizer: ${o.optimizer ?? '{name: adam, lr: 0.01}'}
  clipNorm: ${o.clipNorm ?? 1.0}
  steps: ${o.steps ?? 3}
  checkpoint: {every: ${o.every ?? o.steps ?? 3}, keep: 2}
  workers: {min: ${o.minWorkers ?? o.workers ?? 1}, max: ${o.workers ?? 1}}
`;
}

/** A corpus with some structure (so the loss moves) and enough positions for several epochs of windows. */
export function tinyCorpus(lines = 160): string {
  return Array.from({ length: lines }, (_, i) => `line ${i % 7}: the quick brown fox ${i % 3 ? 'jumps' : 'naps'} over ${i % 5} dogs.\n`).join('');
}

/** A fresh directory with `data/corpus.txt`; returns it and the data root. */
export function tinyWorkspace(prefix: string, corpus = tinyCorpus()): { dir: string; dataRoot: string } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const dataRoot = path.join(dir, 'data');
  mkdirSync(dataRoot);
  writeFileSync(path.join(dataRoot, 'corpus.txt'), corpus);
  return { dir, dataRoot };
}
