/**
 * From a validated spec to the objects that train: the data (training and held-out
 * streams), the vocabulary, the network and the optimizer. The one place that maps
 * spec fields to engine options, shared by `unroll train`, `unroll eval` and the
 * distributed worker.
 */
import { readFileSync } from 'node:fs';
import { availableCores, convLstmStateSize, RecurrentNetwork, Rng, selectKernel, type CellConfig, type KernelChoice, type NetworkConfig, type WindowKernel } from '@unroll/models';
import { batchify, CharVocab, loadTextCorpus, splitHoldout } from '@unroll/datasets';
import { loadNativeKernels } from '@unroll/kernels-native';
import { resolveDataPath, type ExperimentSpec } from '@unroll/spec';
import { createOptimizer, type Optimizer, type OptimizerConfig } from '../optimizers';
import type { LossKind } from '../losses';
import type { TbpttConfig } from '../schedule';
import { DenseSequenceData, TokenSequenceData, type SequenceData } from '../sequence-data';
import { loadTaskData } from './task-data';

type Body = ExperimentSpec['spec'];

/** Streams used for validation: PyTorch word_language_model's eval_batch_size. */
export const EVAL_STREAMS = 10;

export interface ExperimentData {
  train: SequenceData;
  validation: SequenceData;
  /** Character vocabulary (text data only). */
  vocab?: CharVocab;
  inputKind: 'tokens' | 'dense';
  inputSize: number;
  outputSize: number;
}

export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

export function cellConfig(model: Body['model']): CellConfig {
  switch (model.cell) {
    case 'rnn':
      return { kind: 'rnn', activation: model.activation };
    case 'lstm':
      // Variant flags only when set, so a plain LSTM's config (and checkpoint metadata) is unchanged.
      return { kind: 'lstm', ...(model.peepholes ? { peepholes: true } : {}), ...(model.coupledGates ? { coupledGates: true } : {}) };
    case 'gru':
      return { kind: 'gru', variant: model.gruVariant };
    case 'convlstm':
      // The ConvLSTM stack is an LSTM whose products are convolutions (networkConfig adds them).
      return { kind: 'lstm' };
  }
}

/** Model fields of the convolutional forms (libs/models conv/): ConvLSTM layers or a CNN encoder. */
function convolutionalParts(m: Body['model'], data: ExperimentData): Pick<NetworkConfig, 'hidden' | 'convLstm' | 'cnn'> | undefined {
  const frame = m.cell === 'convlstm' ? m.frame : m.cnn?.frame;
  if (!frame) return undefined;
  const size = frame.height * frame.width * frame.channels;
  if (data.inputKind !== 'dense' || data.inputSize !== size) {
    throw new DataError(`model frame ${frame.height}×${frame.width}×${frame.channels} needs ${size} dense input values per step, the data has ${data.inputKind === 'dense' ? data.inputSize : 'token ids'}`);
  }
  if (m.cell !== 'convlstm') return { hidden: m.hidden, cnn: m.cnn };
  if (data.outputSize % (frame.height * frame.width) !== 0) throw new DataError(`a ConvLSTM predicts per pixel: outputSize must be a multiple of ${frame.height}×${frame.width}, got ${data.outputSize}`);
  const convLstm = { frame, filters: m.filters, kernel: m.kernel };
  return { hidden: convLstmStateSize(convLstm), convLstm };
}

function parseCsv(text: string, width: number, source: string): Float32Array {
  const values: number[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const cells = line.split(',');
    if (cells.length !== width) throw new DataError(`${source}:${i + 1}: expected ${width} comma-separated numbers, got ${cells.length}`);
    for (const c of cells) {
      const v = Number(c);
      if (!Number.isFinite(v)) throw new DataError(`${source}:${i + 1}: ${JSON.stringify(c.trim())} is not a finite number`);
      values.push(v);
    }
  });
  return Float32Array.from(values);
}

/** Tokens for the text held out for validation, given the vocabulary. */
function textData(body: Body, dataRoot: string, vocabFromCheckpoint?: CharVocab): ExperimentData {
  const data = body.data;
  if (data.dataset !== 'text') throw new Error('unreachable');
  const src = data.source !== undefined ? { source: data.source } : { resolvedPath: resolveDataPath(dataRoot, data.path as string) };
  const text = loadTextCorpus(src, data.maxChars);
  const { train, validation } = splitHoldout(text, data.validationFraction);
  const vocab = vocabFromCheckpoint ?? CharVocab.fromText(text);
  const evalStreams = Math.max(1, Math.min(EVAL_STREAMS, Math.floor(validation.length / (body.tbptt.window + 1))));
  return {
    train: new TokenSequenceData(batchify(vocab.encode(train), body.tbptt.streams)),
    validation: new TokenSequenceData(batchify(vocab.encode(validation), evalStreams)),
    vocab,
    inputKind: 'tokens',
    inputSize: vocab.size,
    outputSize: vocab.size,
  };
}

function sequenceData(body: Body, dataRoot: string): ExperimentData {
  const data = body.data;
  if (data.dataset !== 'sequence') throw new Error('unreachable');
  const file = resolveDataPath(dataRoot, data.path);
  const width = data.inputSize + data.outputSize;
  const values = parseCsv(readFileSync(file, 'utf8'), width, data.path);
  const rows = values.length / width;
  const cut = Math.floor(rows * (1 - data.validationFraction));
  const evalStreams = Math.max(1, Math.min(EVAL_STREAMS, Math.floor((rows - cut) / body.tbptt.window)));
  return {
    train: new DenseSequenceData(values.subarray(0, cut * width), data.inputSize, data.outputSize, body.tbptt.streams),
    validation: new DenseSequenceData(values.subarray(cut * width), data.inputSize, data.outputSize, evalStreams),
    inputKind: 'dense',
    inputSize: data.inputSize,
    outputSize: data.outputSize,
  };
}

export function loadExperimentData(spec: ExperimentSpec, dataRoot: string, vocab?: CharVocab): ExperimentData {
  // The lecture's model types (task-data.ts) first; then text and dense sequences.
  const task = loadTaskData(spec.spec, vocab);
  if (task) return task;
  return spec.spec.data.dataset === 'text' ? textData(spec.spec, dataRoot, vocab) : sequenceData(spec.spec, dataRoot);
}

export function networkConfig(spec: ExperimentSpec, data: ExperimentData): NetworkConfig {
  const m = spec.spec.model;
  return {
    cell: cellConfig(m),
    input: data.inputKind === 'tokens' ? { kind: 'tokens', vocabSize: data.inputSize, embedding: m.embedding as number } : { kind: 'dense', size: data.inputSize },
    hidden: m.cell === 'convlstm' ? 0 : m.hidden,
    layers: m.layers,
    outputSize: data.outputSize,
    // Bidirectional nets hand back a zero carry: the spec has made every window an independent sequence.
    ...(m.cell !== 'convlstm' && m.bidirectional ? { bidirectional: true } : {}),
    ...(m.cell === 'lstm' && m.forgetBias !== undefined ? { forgetBias: m.forgetBias } : {}),
    ...convolutionalParts(m, data),
  };
}

/** The network, initialised from the spec's seed (rng is advanced by the initialisation). */
export function buildNetwork(spec: ExperimentSpec, data: ExperimentData, rng: Rng, kernel?: WindowKernel): RecurrentNetwork {
  return new RecurrentNetwork(networkConfig(spec, data), rng, { kernel });
}

export class KernelFlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelFlagError';
  }
}

/**
 * BLAS threads of the native kernel: the given count (--threads), else
 * UNROLL_BLAS_THREADS, else the cores this process may use.
 */
export function blasThreads(threads?: number, env: NodeJS.ProcessEnv = process.env): number {
  if (threads !== undefined) return threads;
  const v = env.UNROLL_BLAS_THREADS;
  if (v === undefined || v === '') return availableCores();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new KernelFlagError(`UNROLL_BLAS_THREADS expects a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

export interface KernelSelection {
  /** Overrides spec.kernel (--kernel). */
  kernel?: KernelChoice;
  /** BLAS threads (--threads). @defaultValue UNROLL_BLAS_THREADS, else the cores available */
  threads?: number;
  /** Where the one line (which kernel and why) goes. @defaultValue console.log */
  log?: (line: string) => void;
}

/**
 * The run's window kernel: --kernel, else spec.kernel (auto). 'native' where the
 * addon cannot load throws KernelUnavailableError with the reason.
 */
export function experimentKernel(spec: ExperimentSpec, opts: KernelSelection = {}): WindowKernel {
  return selectKernel({ kernel: opts.kernel ?? spec.spec.kernel ?? 'auto', threads: blasThreads(opts.threads), log: opts.log });
}

export function optimizerConfig(spec: ExperimentSpec): OptimizerConfig {
  const o = spec.spec.optimizer;
  return o.name === 'adam' ? { name: 'adam', lr: o.lr, betas: [o.betas[0], o.betas[1]], eps: o.eps, weightDecay: o.weightDecay } : { name: 'sgd', lr: o.lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay };
}

/**
 * The spec's optimizer. Adam's element loop runs in the native addon when it loads
 * (adamExact: the same float64 operations in the same order, vectorized — the same
 * bytes as the JavaScript loop, vectorized), else in JavaScript.
 */
export function buildOptimizer(spec: ExperimentSpec): Optimizer {
  const native = loadNativeKernels();
  return createOptimizer(optimizerConfig(spec), native.ok ? native.kernels.binding.adamExact.bind(native.kernels.binding) : undefined);
}

export function tbpttConfig(spec: ExperimentSpec): TbpttConfig {
  const t = spec.spec.tbptt;
  return { streams: t.streams, window: t.window, stride: t.stride, microBatch: t.microBatch };
}

export function lossKind(spec: ExperimentSpec): LossKind {
  return spec.spec.loss;
}

/**
 * The kernel selection a worker process was configured with: UNROLL_KERNEL
 * (auto | native | tfjs; the worker's --kernel sets it, so its compute thread sees
 * it too) overrides spec.kernel, UNROLL_BLAS_THREADS sets the threads.
 */
export function kernelSelectionFromEnv(env: NodeJS.ProcessEnv = process.env, log?: (line: string) => void): KernelSelection {
  const v = env.UNROLL_KERNEL;
  if (v !== undefined && v !== '' && v !== 'auto' && v !== 'native' && v !== 'tfjs') throw new KernelFlagError(`UNROLL_KERNEL expects auto, native or tfjs, got ${JSON.stringify(v)}`);
  return { kernel: v === undefined || v === '' ? undefined : v, threads: blasThreads(undefined, env), log };
}
