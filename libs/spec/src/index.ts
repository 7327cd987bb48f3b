/**
 * @unroll/spec — the experiment spec: one YAML document (`apiVersion: unroll/v1`,
 * `kind: Experiment`) validated at the edge, with a message naming every bad field,
 * before anything is enqueued. A spec is data, never code, and reads data only from
 * the configured data root (resolveDataPath).
 */
export { SpecError, DataPathError, formatSpecIssue, type SpecIssue } from './errors/spec-error';
export { parseSpec, MAX_SPEC_LENGTH } from './parse/parse-spec';
export { loadSpecFile } from './parse/load-spec-file';
export { specHash } from './spec-hash';
export { canonicalJson } from './canonical-json';
export { experimentJsonSchema, experimentJsonSchemaText } from './json-schema';
export { resolveDataPath } from './resolve-data-path';
export {
  experimentSchema,
  API_VERSION,
  KIND,
  BACKENDS,
  KERNELS,
  LOSSES,
  type ExperimentSpec,
  type ExperimentSpecInput,
  type ExperimentBody,
  type CheckpointSpec,
  type Backend,
  type Loss,
} from './schema/experiment-schema';
export type { ExperimentMetadata } from './schema/metadata-schema';
export { BUNDLED_CORPORA, type DataSpec, type TextDataSpec, type SequenceDataSpec } from './schema/data-schema';
export { EPISODE_DATASETS, TOKEN_DATASETS, type SpiralsDataSpec, type NamesDataSpec, type SpamDataSpec, type DigitsDataSpec, type TruecaseDataSpec, type AddingDataSpec } from './schema/task-data-schema';
export type { ModelSpec, RnnModelSpec, LstmModelSpec, GruModelSpec, CellKind } from './schema/model-schema';
export type { TbpttSpec } from './schema/tbptt-schema';
export type { OptimizerSpec, AdamSpec, SgdSpec } from './schema/optimizer-schema';
export type { EvalSpec } from './schema/eval-schema';
export type { WorkersSpec } from './schema/workers-schema';
