/**
 * A tiny experiment for the worker's unit tests: a spec on the cpu backend and a data
 * root holding its corpus, in a fresh temporary directory (remove() deletes it).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function tinySessionSpec(o: { name: string; seed: number; cell: 'lstm' | 'gru'; layers: number }): string {
  return `apiVersion: unroll/v1
kind: Experiment
metadata: {name: ${o.name}}
spec:
  seed: ${o.seed}
  backend: cpu
  data: {dataset: text, path: corpus.txt, validationFraction: 0.1}
  model: {cell: ${o.cell}, embedding: 4, hidden: 6, layers: ${o.layers}}
  tbptt: {streams: 4, window: 5, microBatch: 2}
  loss: cross-entropy
  optimizer: {name: adam, lr: 0.01}
  steps: 10
`;
}

export function sessionWorkspace(corpus: string): { dataRoot: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'unroll-worker-'));
  const dataRoot = path.join(dir, 'data');
  mkdirSync(dataRoot);
  writeFileSync(path.join(dataRoot, 'corpus.txt'), corpus);
  return { dataRoot, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
