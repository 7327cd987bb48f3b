/**
 * A whole single-process training run of an experiment spec: pick the backend,
 * build data, network and optimizer, resume from the newest checkpoint in the
 * output directory when there is one for this experiment, run the steps with
 * periodic validation and checkpoints, and finish with a full validation pass.
 * Everything it has to say goes through `onEvent`; the CLI renders it.
 */
import { CheckpointStore } from '@unroll/checkpoint';
import { Rng, selectBackend, type BackendInfo, type BackendName, type RecurrentNetwork } from '@unroll/models';
import type { ExperimentSpec } from '@unroll/spec';
import { evaluate, Trainer, type EvalResult, type StepResult } from '../trainer';
import { fromCheckpointParts, toCheckpointParts, trainingIdentity } from './checkpointing';
import { buildNetwork, buildOptimizer, experimentKernel, loadExperimentData, lossKind, tbpttConfig, type ExperimentData, type KernelSelection } from './experiment';
import { CharVocab } from '@unroll/datasets';

export type RunEvent =
  | { type: 'start'; backend: BackendInfo; kernel: { name: 'native' | 'tfjs'; reason: string }; model: string; parameters: number; steps: number; resumedFrom?: number; trainPositions: number; streams: number }
  | { type: 'step'; result: StepResult; total: number; elapsedSeconds: number; tokensPerSecond: number }
  | { type: 'eval'; step: number; result: EvalResult; final: boolean }
  | { type: 'checkpoint'; step: number; path: string };

export interface TrainingRunOptions {
  spec: ExperimentSpec;
  dataRoot: string;
  /** Checkpoint directory. */
  outDir: string;
  /** Overrides spec.steps. */
  steps?: number;
  /** Overrides spec.backend. */
  backend?: BackendName;
  /** The window kernel: --kernel overrides spec.kernel; --threads the BLAS threads; the one log line. */
  kernel?: KernelSelection;
  onEvent?: (e: RunEvent) => void;
}

export interface RunSummary {
  steps: number;
  validation: EvalResult;
  checkpoint: string;
  backend: BackendInfo;
  /** The window kernel that ran: native or tfjs. */
  kernel: 'native' | 'tfjs';
  tokensPerSecond: number;
}

export async function runTraining(opts: TrainingRunOptions): Promise<RunSummary> {
  const { spec, onEvent = () => undefined } = opts;
  const body = spec.spec;
  const steps = opts.steps ?? body.steps;
  const backend = await selectBackend(opts.backend ?? body.backend);
  const kernel = experimentKernel(spec, opts.kernel);
  const store = new CheckpointStore(opts.outDir, { keep: body.checkpoint.keep });
  const latest = await store.latest();
  const parts = latest ? await store.load(latest.modelPath) : undefined;
  if (parts && parts.model.metadata['unroll.identity'] !== trainingIdentity(spec)) {
    // fromCheckpointParts gives the full message; fail before loading any data.
    fromCheckpointParts(spec, [], body.model.layers, parts, latest?.modelPath ?? '');
  }
  const savedVocab = parts?.model.metadata.vocab !== undefined ? CharVocab.fromJSON(parts.model.metadata.vocab) : undefined;
  const data: ExperimentData = loadExperimentData(spec, opts.dataRoot, savedVocab);
  const rng = new Rng(body.seed);
  const net = buildNetwork(spec, data, rng, kernel);
  const optimizer = buildOptimizer(spec);
  const trainer = new Trainer({ net, data: data.train, tbptt: tbpttConfig(spec), loss: lossKind(spec), optimizer, clipNorm: body.clipNorm ?? undefined });
  let rngState = rng.state();
  if (parts && latest) {
    const snap = fromCheckpointParts(spec, net.specs, body.model.layers, parts, latest.modelPath);
    trainer.loadParams(snap.params);
    optimizer.load(snap.optimizer);
    trainer.restore(snap.step, snap.streams, snap.counters);
    rngState = snap.rng;
  }
  const parameters = net.specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  onEvent({ type: 'start', backend, kernel: { name: kernel.name, reason: kernel.reason }, model: net.description, parameters, steps, resumedFrom: latest?.step, trainPositions: data.train.positions, streams: data.train.streams });

  const save = async (): Promise<string> => {
    const step = trainer.step;
    const plan = trainer.schedule.windowAt(step);
    const entry = await store.save(
      step,
      toCheckpointParts(spec, net, {
        step,
        params: trainer.params,
        optimizer: optimizer.state(),
        streams: trainer.streamStates(),
        rng: rngState,
        cursor: { epoch: plan.epoch, window: plan.index },
        counters: trainer.counters,
        vocab: data.vocab?.tokens,
      }),
    );
    onEvent({ type: 'checkpoint', step, path: entry.modelPath });
    return entry.modelPath;
  };

  const every = body.checkpoint.every ?? steps;
  const t0 = performance.now();
  let tokens = 0;
  let lastCheckpoint = latest && latest.step >= steps ? latest.modelPath : '';
  while (trainer.step < steps) {
    const result = trainer.runStep();
    tokens += result.tokens;
    const elapsedSeconds = (performance.now() - t0) / 1000;
    onEvent({ type: 'step', result, total: steps, elapsedSeconds, tokensPerSecond: tokens / elapsedSeconds });
    if (trainer.step % every === 0 || trainer.step === steps) lastCheckpoint = await save();
    if (body.eval.every > 0 && trainer.step % body.eval.every === 0 && trainer.step < steps) {
      onEvent({ type: 'eval', step: trainer.step, result: evaluate(net, data.validation, body.tbptt.window, lossKind(spec), body.eval.windows), final: false });
    }
  }
  // Training throughput: the step loop (checkpoints included), not the final validation pass.
  const trainSeconds = (performance.now() - t0) / 1000;
  const validation = evaluate(net, data.validation, body.tbptt.window, lossKind(spec));
  onEvent({ type: 'eval', step: trainer.step, result: validation, final: true });
  disposeNetwork(net);
  return { steps: trainer.step, validation, checkpoint: lastCheckpoint, backend, kernel: kernel.name, tokensPerSecond: trainSeconds > 0 ? tokens / trainSeconds : 0 };
}

function disposeNetwork(net: RecurrentNetwork): void {
  net.dispose();
}
