/**
 * `unroll eval`: a checkpoint's loss on the spec's held-out data, or on a file
 * scored as one stream from a zero state (mean cross-entropy over every position
 * after the first).
 */
import { readModelFile } from '@unroll/checkpoint';
import { batchify, CharVocab, VocabError } from '@unroll/datasets';
import { RecurrentNetwork, Rng, selectBackend, type BackendName } from '@unroll/models';
import { resolveDataPath, type ExperimentSpec } from '@unroll/spec';
import { readFileSync } from 'node:fs';
import { TokenSequenceData } from '../sequence-data';
import { evaluate, type EvalResult } from '../trainer';
import { modelParams } from './checkpointing';
import { experimentKernel, loadExperimentData, lossKind, networkConfig, type KernelSelection } from './experiment';

export interface EvaluationOptions {
  spec: ExperimentSpec;
  dataRoot: string;
  checkpoint: string;
  /** A text file under the data root, scored as one stream. */
  input?: string;
  backend?: BackendName;
  /** The window kernel: --kernel overrides spec.kernel; --threads the BLAS threads. */
  kernel?: KernelSelection;
}

export async function runEvaluation(opts: EvaluationOptions): Promise<EvalResult> {
  const { spec } = opts;
  await selectBackend(opts.backend ?? spec.spec.backend);
  const kernel = experimentKernel(spec, opts.kernel);
  const model = await readModelFile(opts.checkpoint);
  let vocab: CharVocab | undefined;
  if (spec.spec.data.dataset === 'text') {
    if (model.metadata.vocab === undefined) throw new VocabError(`${opts.checkpoint} has no vocab in its metadata`);
    vocab = CharVocab.fromJSON(model.metadata.vocab);
  }
  const data = loadExperimentData(spec, opts.dataRoot, vocab);
  const net = new RecurrentNetwork(networkConfig(spec, data), new Rng(0), { kernel });
  try {
    net.load(modelParams({ model }, net.specs, opts.checkpoint));
    if (opts.input !== undefined) {
      if (!vocab) throw new Error('--input scores text, and this spec trains on dense sequences');
      const text = readFileSync(resolveDataPath(opts.dataRoot, opts.input, '--input'), 'utf8');
      const ids = vocab.encode(text);
      if (ids.length < 2) throw new Error(`--input ${opts.input} needs at least 2 characters`);
      return evaluate(net, new TokenSequenceData(batchify(ids, 1)), spec.spec.tbptt.window, 'cross-entropy');
    }
    return evaluate(net, data.validation, spec.spec.tbptt.window, lossKind(spec));
  } finally {
    net.dispose();
  }
}
