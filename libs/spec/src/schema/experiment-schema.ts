/**
 * The experiment document: `apiVersion: unroll/v1`, `kind: Experiment`, `metadata`,
 * `spec`. Every object is strict — an unknown key is an error, so a typo cannot be
 * silently ignored — and every issue names its field by full dotted path.
 *
 * Rules that involve more than one section are checked here, each only when the
 * fields it reads are themselves valid (see when-valid.ts):
 *   - spec.loss: cross-entropy with dataset text (and the class-valued datasets of
 *     task-data-schema.ts); mse or sse with dataset sequence and adding
 *   - spec.model.embedding: required with token datasets (text, spam, digits, truecase),
 *     not allowed with the dense ones
 *   - tbptt.stride = window with the episode datasets (spirals, names, spam, digits, adding, sensors)
 *   - spec.model.bidirectional needs spec.tbptt.independentWindows: true and stride = window;
 *     independentWindows is only allowed with a bidirectional model (see below)
 * Defaults that depend on another field are filled in after validation:
 *   - spec.checkpoint.every defaults to spec.steps
 */
import { z } from 'zod';
import { checkpointSchema } from './checkpoint-schema';
import { dataSchema } from './data-schema';
import { EPISODE_DATASETS, TOKEN_DATASETS } from './task-data-schema';
import { evalSchema } from './eval-schema';
import { exactly, expected, intAtLeast, numberIn, oneOf } from './field-builders';
import { metadataSchema } from './metadata-schema';
import { modelSchema } from './model-schema';
import { optimizerSchema } from './optimizer-schema';
import { tbpttSchema } from './tbptt-schema';
import { whenValid } from './when-valid';
import { workersSchema } from './workers-schema';

export const API_VERSION = 'unroll/v1';
export const KIND = 'Experiment';

export const BACKENDS = ['auto', 'cpu', 'wasm', 'tensorflow', 'tensorflow-gpu'] as const;
export const LOSSES = ['cross-entropy', 'mse', 'sse'] as const;
export const KERNELS = ['auto', 'native', 'tfjs'] as const;

/** Which losses fit which dataset: classes for text, real-valued targets for sequences. */
const LOSSES_FOR_DATASET = {
  text: ['cross-entropy'],
  sequence: ['mse', 'sse'],
  spirals: ['cross-entropy'],
  names: ['cross-entropy'],
  spam: ['cross-entropy'],
  digits: ['cross-entropy'],
  truecase: ['cross-entropy'],
  adding: ['mse', 'sse'],
  sensors: ['cross-entropy'],
} as const satisfies Record<string, readonly (typeof LOSSES)[number][]>;

const specBodySchema = z
  .strictObject({
    /**
     * Seed of every random draw: initial weights, stream offsets, dropout.
     * @defaultValue 0 — a fixed seed, so running the same spec twice gives the same run.
     */
    seed: intAtLeast(0).default(0).describe('Seed of every random draw, ≥ 0.'),
    /**
     * Compute backend of the workers.
     * @defaultValue 'auto' — each worker picks the fastest backend installed on it, so one
     * spec runs on a laptop and on a GPU node.
     */
    backend: oneOf(BACKENDS).default('auto').describe('Compute backend of the workers; auto picks the fastest installed.'),
    /**
     * Who runs the fused window ops: `native` (Unroll's C++ kernels on OpenBLAS,
     * libs/kernels-native), `tfjs` (TypeScript gate loops, products on the backend)
     * or `auto`. Results agree to float32 rounding, so this is a speed choice, not
     * part of the model (it does not change the checkpoint identity).
     * @defaultValue 'auto' — native when its addon loads (several times faster on the
     * CPU), else tfjs; the run logs once which kernel it uses and why. `unroll train
     * --kernel`, `unroll eval --kernel` and the worker's `--kernel` override it.
     * Absent means auto and is left absent (not filled in), so adding this field did
     * not change the specHash of any existing experiment.
     */
    kernel: oneOf(KERNELS).optional().describe('Window kernel: native (OpenBLAS), tfjs, or auto (native when its addon loads). Default (absent): auto.'),
    /** What the network reads. No default. */
    data: dataSchema,
    /** The recurrent network. No default. */
    model: modelSchema,
    /** How the data is cut into TBPTT windows. No default: window and streams must be chosen. */
    tbptt: tbpttSchema,
    /**
     * Loss per time step: cross-entropy with dataset text; mse (mean) or sse (sum of
     * squared errors) with dataset sequence. No default: it is part of the task.
     */
    loss: oneOf(LOSSES).describe('Loss per time step: cross-entropy with text; mse or sse with sequence.'),
    /** The update rule. No default: the learning rate must be chosen. */
    optimizer: optimizerSchema,
    /**
     * Clip the global gradient norm (over all parameters) to this value, > 0; null for none.
     * @defaultValue null — no clipping unless asked: clipping changes the update, and
     * the gradient-norm metrics show when it is needed.
     */
    clipNorm: numberIn({ gt: 0 })
      .nullable()
      .default(null)
      .describe('Clip the global gradient norm to this value (> 0); null for no clipping.'),
    /** Optimizer steps to run (one step = one window of every stream). No default. */
    steps: intAtLeast(1).describe('Optimizer steps to run.'),
    /** When checkpoints are written and how many are kept. Defaults: see its fields. */
    checkpoint: checkpointSchema,
    /** Validation on the held-out data. Defaults: see its fields. */
    eval: evalSchema,
    /** Data-parallel workers. Defaults: see its fields (a single worker). */
    workers: workersSchema,
  })
  .superRefine(
    (spec, ctx) => {
      const allowed: readonly string[] = LOSSES_FOR_DATASET[spec.data.dataset];
      if (!allowed.includes(spec.loss)) {
        ctx.addIssue({
          code: 'custom',
          path: ['loss'],
          input: spec.loss,
          message: `expected ${allowed.join(' or ')} for dataset ${spec.data.dataset}, got ${JSON.stringify(spec.loss)}`,
        });
      }
    },
    { when: whenValid('loss', 'data.dataset') },
  )
  .superRefine(
    (spec, ctx) => {
      const { embedding } = spec.model;
      const tokens = (TOKEN_DATASETS as readonly string[]).includes(spec.data.dataset);
      if (tokens && embedding === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['model', 'embedding'],
          input: undefined,
          message: `required field is missing; expected an integer ≥ 1 (the embedding size) for dataset ${spec.data.dataset}`,
        });
      } else if (!tokens && embedding !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['model', 'embedding'],
          input: embedding,
          message: `only allowed with dataset text (dataset ${spec.data.dataset} feeds dense vectors to the first layer), got ${embedding}`,
        });
      }
    },
    { when: whenValid('model.cell', 'model.embedding', 'data.dataset') },
  )
  .superRefine(
    (spec, ctx) => {
      const bidirectional = spec.model.bidirectional === true;
      const independent = spec.tbptt.independentWindows === true;
      if (bidirectional && !independent) {
        // Why: s^b_t reads s^b_{t+1}, so the backward state at a window's end is a function
        // of the steps after it — TBPTT cannot carry it into the next window.
        ctx.addIssue({
          code: 'custom',
          path: ['tbptt', 'independentWindows'],
          input: spec.tbptt.independentWindows,
          message:
            `expected true with model.bidirectional (a backward direction's state at a window's end depends on the steps after the window, ` +
            `so it cannot be carried across TBPTT windows; make each window one whole sequence: independentWindows: true, stride = window), got ${spec.tbptt.independentWindows ?? 'nothing'}`,
        });
      } else if (!bidirectional && independent) {
        ctx.addIssue({
          code: 'custom',
          path: ['tbptt', 'independentWindows'],
          input: true,
          message: 'only allowed with model.bidirectional: true for now (a causal model carries its state across windows; remove the field), got true',
        });
      }
      if (bidirectional && spec.tbptt.stride !== spec.tbptt.window) {
        ctx.addIssue({
          code: 'custom',
          path: ['tbptt', 'stride'],
          input: spec.tbptt.stride,
          message: `expected window (${spec.tbptt.window}) with model.bidirectional: windows are independent sequences, so overlapping ones would score steps whose backward context is cut short, got ${spec.tbptt.stride}`,
        });
      }
    },
    { when: whenValid('model.bidirectional', 'model.cell', 'tbptt') },
  )
  .superRefine(
    (spec, ctx) => {
      // Episodes are padded to whole windows and start at a window's first step: windows must tile them.
      if ((EPISODE_DATASETS as readonly string[]).includes(spec.data.dataset) && spec.tbptt.stride !== spec.tbptt.window) {
        ctx.addIssue({
          code: 'custom',
          path: ['tbptt', 'stride'],
          input: spec.tbptt.stride,
          message: `expected window (${spec.tbptt.window}) with dataset ${spec.data.dataset}: its sequences are padded to whole windows and each starts at a window's first step, got ${spec.tbptt.stride}`,
        });
      }
    },
    { when: whenValid('data.dataset', 'tbptt') },
  )
  .transform((spec) => ({
    ...spec,
    checkpoint: { every: spec.checkpoint.every ?? spec.steps, keep: spec.checkpoint.keep },
  }))
  .describe('What to train and how.');

/** The whole document, as it is written in YAML. */
export const experimentSchema = z
  .strictObject({
    apiVersion: exactly(API_VERSION),
    kind: exactly(KIND),
    metadata: metadataSchema,
    spec: specBodySchema,
  })
  .meta({
    title: 'Unroll Experiment',
    description:
      'An Unroll experiment spec (apiVersion unroll/v1, kind Experiment). Rules that relate two fields ' +
      '(exactly one of data.source and data.path, stride ≤ window, microBatch divides streams, loss vs dataset, ' +
      'embedding vs dataset, bidirectional needs tbptt.independentWindows and stride = window, workers.min ≤ max, ' +
      'nesterov needs momentum) are checked by parseSpec, not by this schema.',
  });

/**
 * Only the header: checked first, so a document of another kind or version is refused
 * for that reason alone instead of with a list of fields it does not have.
 */
export const envelopeSchema = z.looseObject(
  { apiVersion: exactly(API_VERSION), kind: exactly(KIND) },
  { error: expected(`a mapping with apiVersion ${API_VERSION}, kind ${KIND}, metadata and spec`) },
);

/** An experiment with every default applied. */
export type ExperimentSpec = z.output<typeof experimentSchema>;
/** An experiment as written: defaulted fields may be absent. */
export type ExperimentSpecInput = z.input<typeof experimentSchema>;
/** The `spec` section with every default applied. */
export type ExperimentBody = ExperimentSpec['spec'];
/** Checkpoint settings with defaults applied: `every` is always set (to `steps` when absent). */
export type CheckpointSpec = ExperimentBody['checkpoint'];
export type Backend = (typeof BACKENDS)[number];
export type Loss = (typeof LOSSES)[number];
