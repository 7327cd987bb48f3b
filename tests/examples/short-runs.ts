/**
 * The short runs of the bundled model-type examples: each example spec as shipped,
 * with only its length (and where it must, its data size or batch) cut so the run
 * takes ≤ ~30 s on a busy 2-core machine. `npx tsx tests/examples/measure.ts` runs
 * them all and prints what the thresholds in model-types.spec.ts were set from.
 */
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runTraining, type StepResult } from '@unroll/bptt';
import { loadSpecFile, type ExperimentSpec } from '@unroll/spec';

export interface ShortRun {
  example: string;
  steps: number;
  /** Changes to the example's spec body for the short run. */
  adjust?: (body: ExperimentSpec['spec']) => void;
}

export const SHORT_RUNS: Record<string, ShortRun> = {
  'one-to-one': { example: 'spirals-one-to-one.yaml', steps: 1200 },
  'one-to-many': { example: 'names-one-to-many.yaml', steps: 120 },
  'many-to-one': {
    example: 'spam-many-to-one.yaml',
    steps: 80,
    adjust: (b) => {
      if (b.data.dataset === 'spam') b.data.maxChars = 100;
      b.tbptt = { ...b.tbptt, streams: 16, microBatch: 16 };
    },
  },
  'encoder-decoder': { example: 'digits-reverse-seq2seq.yaml', steps: 120 },
  tagging: {
    example: 'sotu-truecase-tagging.yaml',
    steps: 50,
    adjust: (b) => {
      if (b.data.dataset === 'truecase') b.data.maxChars = 100_000;
      b.eval = { ...b.eval, every: 0 };
    },
  },
  'adding-rnn': { example: 'adding-rnn.yaml', steps: 200, adjust: (b) => (b.tbptt = { ...b.tbptt, streams: 8, microBatch: 8 }) },
  'adding-lstm': { example: 'adding-lstm.yaml', steps: 200, adjust: (b) => (b.tbptt = { ...b.tbptt, streams: 8, microBatch: 8 }) },
};

export interface ShortRunResult {
  validationLoss: number;
  /** Mean training loss of the first and last 10 steps that scored something. */
  firstLoss: number;
  lastLoss: number;
  /** Every step that scored something, in order. */
  steps: StepResult[];
  lastStep: StepResult;
  seconds: number;
}

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

/** Loads an example spec by file name (under examples/). */
export function loadExample(file: string): ExperimentSpec {
  return loadSpecFile(path.join(__dirname, '..', '..', 'examples', file));
}

/**
 * Trains `spec` for `steps` steps through runTraining (cpu backend, a temporary
 * checkpoint directory), handing every step that scored something to `onStep`.
 */
export async function trainExample(spec: ExperimentSpec, steps: number, onStep: (step: StepResult) => void): Promise<{ validationLoss: number; seconds: number }> {
  const outDir = mkdtempSync(path.join(tmpdir(), `unroll-${spec.metadata.name}-`));
  const t0 = performance.now();
  try {
    const summary = await runTraining({
      spec,
      dataRoot: tmpdir(),
      outDir,
      steps,
      backend: 'cpu',
      onEvent: (e) => {
        if (e.type === 'step' && e.result.tokens > 0) onStep(e.result);
      },
    });
    return { validationLoss: summary.validation.loss, seconds: (performance.now() - t0) / 1000 };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

export async function runShort(name: string): Promise<ShortRunResult> {
  const run = SHORT_RUNS[name];
  const spec = loadExample(run.example);
  run.adjust?.(spec.spec);
  const steps: StepResult[] = [];
  const { validationLoss, seconds } = await trainExample(spec, run.steps, (s) => steps.push(s));
  const losses = steps.map((s) => s.loss);
  return { validationLoss, firstLoss: mean(losses.slice(0, 10)), lastLoss: mean(losses.slice(-10)), steps, lastStep: steps[steps.length - 1], seconds };
}

/** ‖∂L/∂h‖ at `lag` relative to lag 1, from a step's gradient-flow numbers. */
export function flowRatio(step: StepResult, lag: number): number {
  const flow = step.flow['rnn.l0'];
  const at = (l: number) => flow.find((p) => p.lag === l)?.norm ?? NaN;
  return at(lag) / at(1);
}

/**
 * The median of flowRatio over the last `n` steps: one step's ratio at a long lag
 * swings by orders of magnitude from batch to batch (a vanilla RNN's more than an
 * LSTM's), the median of many does not.
 */
export function medianFlowRatio(steps: readonly StepResult[], lag: number, n: number): number {
  const r = steps.slice(-n).map((s) => flowRatio(s, lag)).sort((a, b) => a - b);
  const m = r.length >> 1;
  return r.length % 2 ? r[m] : Math.sqrt(r[m - 1] * r[m]);
}
