/**
 * @unroll/checkpoint — checkpoint files for Unroll: the safetensors format (byte-compatible with
 * PyTorch's `safetensors.torch`), atomic writes, and a directory store that keeps the last K
 * checkpoints, each a model file plus a trainer-state file verified to belong together.
 */
export type { Dtype, TensorData } from './dtypes';
export {
  CheckpointArgumentError,
  CheckpointError,
  CheckpointMismatchError,
  CorruptCheckpointError,
  TensorLayoutMismatchError,
} from './errors';
export type { TensorLayoutDifference } from './errors';
export { CHECKSUM_METADATA_KEY, decodeSafetensors, encodeSafetensors } from './safetensors';
export type { EncodeOptions, NamedTensor, SafetensorsContents } from './safetensors';
export { writeFileAtomic } from './atomic-write';
export {
  CheckpointStore,
  STATE_SHA256_METADATA_KEY,
  STEP_METADATA_KEY,
  readModelFile,
} from './checkpoint-store';
export type { CheckpointEntry, CheckpointParts, CheckpointStoreOptions } from './checkpoint-store';
export { modelFileName, stateFileName } from './checkpoint-names';
export { assertTensorsMatch } from './tensor-layout';
export type { TensorLayout } from './tensor-layout';
