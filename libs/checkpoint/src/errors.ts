/**
 * Errors of the checkpoint subsystem, one small class per way things go wrong:
 *
 *   CheckpointError                  base class; catch this to catch them all
 *   ├─ CorruptCheckpointError        a file is not a valid (or intact) checkpoint file
 *   ├─ CheckpointMismatchError       files are each valid but do not belong together
 *   │  └─ TensorLayoutMismatchError  tensor names / shapes / dtypes differ from a spec
 *   └─ CheckpointArgumentError       the caller passed something we refuse to write
 *
 * Messages say what was expected and what was found, and name the file.
 */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A file failed validation: bad framing, bad header, bad offsets, checksum mismatch, truncation. */
export class CorruptCheckpointError extends CheckpointError {
  /** @param source the file (or other label) that was being read. */
  constructor(
    readonly source: string,
    readonly problem: string,
  ) {
    super(`corrupt checkpoint ${source}: ${problem}`);
  }
}

/** Two valid files (or a file and an expectation) disagree, e.g. a state file from another checkpoint. */
export class CheckpointMismatchError extends CheckpointError {}

/** One tensor whose shape or dtype differs from what was expected. */
export interface TensorLayoutDifference {
  name: string;
  expected: { shape: number[]; dtype: string };
  got: { shape: number[]; dtype: string };
}

/** The tensors of a file do not match the tensors a model of a given spec needs. */
export class TensorLayoutMismatchError extends CheckpointMismatchError {
  constructor(
    readonly source: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly wrongLayout: TensorLayoutDifference[],
  ) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`missing ${missing.join(', ')}`);
    if (unexpected.length > 0) parts.push(`unexpected ${unexpected.join(', ')}`);
    for (const d of wrongLayout) {
      parts.push(
        `${d.name} expected ${d.expected.dtype}[${d.expected.shape.join(',')}] ` +
          `got ${d.got.dtype}[${d.got.shape.join(',')}]`,
      );
    }
    super(`tensors of ${source} do not match the model: ${parts.join('; ')}`);
  }
}

/** Invalid input to a writer (tensor data that does not fit its shape, a reserved name, a bad option). */
export class CheckpointArgumentError extends CheckpointError {}
