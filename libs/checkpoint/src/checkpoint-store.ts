/**
 * A directory of checkpoints, the last `keep` of them kept.
 *
 * A checkpoint of step s is two safetensors files (names in checkpoint-names.ts):
 *   - the model file: the model weights only, under PyTorch's names, so
 *     `model.load_state_dict(safetensors.torch.load_file(path))` works; its metadata is the
 *     caller's string map plus `unroll.step` and `unroll.stateSha256`;
 *   - the state file: trainer state tensors (optimizer moments, per-stream hidden states) and the
 *     caller's metadata strings (data cursor, RNG state, spec hash …) plus `unroll.step`.
 * Both carry `unroll.sha256`, the checksum of their byte buffer, and are written with
 * `align: true` (see safetensors.ts), so PyTorch can view every tensor in place.
 *
 * Save protocol (one save at a time per store; one store writing per directory):
 *   1. if a model file for s exists (re-save), remove it first, so checkpoint s reads as
 *      incomplete rather than as a model paired with a different state
 *   2. write the state file atomically
 *   3. write the model file atomically, recording the SHA-256 of the whole state file: the model
 *      file appearing is the commit point of the checkpoint
 *   4. prune: remove all but the `keep` highest complete checkpoints (model file first, then
 *      state file, so a crash mid-prune leaves at worst an orphan state file), orphan state
 *      files (a save that died between 2 and 3) and leftover temp files of checkpoint names
 * A crash at any point therefore leaves the previous complete checkpoints loadable, and `list`
 * and `latest` only ever return complete checkpoints. `load` verifies both files, their pairing
 * (the recorded SHA-256) and their step.
 *
 * Metadata keys `unroll.sha256`, `unroll.stateSha256` and `unroll.step` are reserved: `save`
 * rejects them and `load` / `readModelFile` strip them, so what you save is what you load.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fsyncDirectory, tempFileTarget, writeFileAtomic } from './atomic-write';
import {
  modelFileName,
  parseModelFileName,
  parseStateFileName,
  stateFileName,
} from './checkpoint-names';
import { CheckpointArgumentError, CheckpointMismatchError, CorruptCheckpointError } from './errors';
import { CHECKSUM_METADATA_KEY, SafetensorsContents, decodeSafetensors, encodeSafetensors, sha256Hex } from './safetensors';

/** Metadata key, in the model file, of the SHA-256 (lowercase hex) of the whole state file. */
export const STATE_SHA256_METADATA_KEY = 'unroll.stateSha256';
/** Metadata key, in both files, of the step (decimal). */
export const STEP_METADATA_KEY = 'unroll.step';
const RESERVED_KEYS: readonly string[] = [CHECKSUM_METADATA_KEY, STATE_SHA256_METADATA_KEY, STEP_METADATA_KEY];
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface CheckpointParts {
  /** Model weights, named as PyTorch names them; metadata e.g. vocab, spec hash, model config. */
  model: SafetensorsContents;
  /** Trainer state; metadata e.g. data cursor, RNG state, spec hash, as JSON strings. */
  state: SafetensorsContents;
}

export interface CheckpointEntry {
  step: number;
  modelPath: string;
  statePath: string;
}

export interface CheckpointStoreOptions {
  /**
   * How many complete checkpoints to keep after each save (the highest steps).
   * @defaultValue 3 — survives one checkpoint that turns out bad plus one in flight, at 3× model+state size on disk
   */
  keep?: number;
}

export class CheckpointStore {
  /** Absolute path of the directory. */
  readonly dir: string;
  readonly keep: number;
  /** Saves run one after another; each prune must not see another save half done. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(dir: string, options: CheckpointStoreOptions = {}) {
    const keep = options.keep ?? 3;
    if (!Number.isSafeInteger(keep) || keep < 1) {
      throw new CheckpointArgumentError(`CheckpointStore option keep expects an integer >= 1, got ${String(keep)}`);
    }
    this.dir = path.resolve(dir);
    this.keep = keep;
  }

  /** Writes checkpoint `step` (see the save protocol above); creates the directory if needed. */
  save(step: number, parts: CheckpointParts): Promise<CheckpointEntry> {
    const run = this.tail.then(() => this.saveNow(step, parts));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Complete checkpoints (model file present), by ascending step. [] if the directory does not exist. */
  async list(): Promise<CheckpointEntry[]> {
    const entries: CheckpointEntry[] = [];
    for (const name of await this.readDir()) {
      const step = parseModelFileName(name);
      if (step !== undefined) entries.push(this.entry(step));
    }
    return entries.sort((a, b) => a.step - b.step);
  }

  /** The complete checkpoint of the highest step, if any. */
  async latest(): Promise<CheckpointEntry | undefined> {
    return (await this.list()).at(-1);
  }

  /**
   * Reads and verifies a checkpoint: both files decode and pass their checksums, the state file
   * is the one the model file recorded, and both agree with the step in the file name.
   * @throws CorruptCheckpointError if a file is damaged, or the state file is missing
   * @throws CheckpointMismatchError if the files do not belong together
   */
  async load(modelPath: string): Promise<CheckpointParts & { step: number }> {
    const step = parseModelFileName(path.basename(modelPath));
    if (step === undefined) {
      throw new CheckpointArgumentError(`expected a model file named like ${modelFileName(0)}, got ${modelPath}`);
    }
    const statePath = path.join(path.dirname(modelPath), stateFileName(step));
    const model = decodeSafetensors(await fsp.readFile(modelPath), modelPath);
    checkStep(model.metadata, step, modelPath);
    const recorded = model.metadata[STATE_SHA256_METADATA_KEY];
    if (recorded === undefined || !SHA256_HEX.test(recorded)) {
      throw new CorruptCheckpointError(
        modelPath,
        `metadata ${STATE_SHA256_METADATA_KEY} expected a sha256 hex digest, got ${JSON.stringify(recorded)}`,
      );
    }
    let stateBytes: Buffer;
    try {
      stateBytes = await fsp.readFile(statePath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      throw new CorruptCheckpointError(statePath, `state file missing, but model file ${modelPath} exists`);
    }
    const state = decodeSafetensors(stateBytes, statePath);
    const actual = sha256Hex(stateBytes);
    if (actual !== recorded) {
      throw new CheckpointMismatchError(
        `state file ${statePath} does not belong to ${modelPath}: model file records state sha256 ${recorded}, ` +
          `state file hashes to ${actual}`,
      );
    }
    checkStep(state.metadata, step, statePath);
    return { step, model: withoutReserved(model), state: withoutReserved(state) };
  }

  private async saveNow(step: number, parts: CheckpointParts): Promise<CheckpointEntry> {
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new CheckpointArgumentError(`save expects step to be a non-negative integer, got ${step}`);
    }
    assertNoReserved(parts.model.metadata, 'model');
    assertNoReserved(parts.state.metadata, 'state');
    const entry = this.entry(step);
    const stateBytes = encodeSafetensors(
      parts.state.tensors,
      { ...parts.state.metadata, [STEP_METADATA_KEY]: String(step) },
      { checksum: true, align: true },
    );
    const modelBytes = encodeSafetensors(
      parts.model.tensors,
      { ...parts.model.metadata, [STEP_METADATA_KEY]: String(step), [STATE_SHA256_METADATA_KEY]: sha256Hex(stateBytes) },
      { checksum: true, align: true },
    );
    await fsp.mkdir(this.dir, { recursive: true });
    if (await exists(entry.modelPath)) {
      await fsp.rm(entry.modelPath);
      await fsyncDirectory(this.dir);
    }
    await writeFileAtomic(entry.statePath, stateBytes);
    await writeFileAtomic(entry.modelPath, modelBytes);
    await this.prune();
    return entry;
  }

  private async prune(): Promise<void> {
    const complete = await this.list();
    for (const old of complete.slice(0, Math.max(0, complete.length - this.keep))) {
      await fsp.rm(old.modelPath, { force: true });
      await fsp.rm(old.statePath, { force: true });
    }
    const names = await this.readDir();
    const models = new Set(names.filter((n) => parseModelFileName(n) !== undefined));
    for (const name of names) {
      const stateStep = parseStateFileName(name);
      const orphan = stateStep !== undefined && !models.has(modelFileName(stateStep));
      const target = tempFileTarget(name);
      const staleTemp =
        target !== undefined && (parseModelFileName(target) !== undefined || parseStateFileName(target) !== undefined);
      if (orphan || staleTemp) await fsp.rm(path.join(this.dir, name), { force: true });
    }
    await fsyncDirectory(this.dir);
  }

  private entry(step: number): CheckpointEntry {
    return {
      step,
      modelPath: path.join(this.dir, modelFileName(step)),
      statePath: path.join(this.dir, stateFileName(step)),
    };
  }

  private async readDir(): Promise<string[]> {
    try {
      return await fsp.readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }
}

/**
 * Reads a model file on its own (e.g. for evaluation): decoded, validated and checksummed, with
 * the reserved `unroll.*` keys removed from the metadata. Any safetensors file is accepted.
 */
export async function readModelFile(modelPath: string): Promise<SafetensorsContents> {
  return withoutReserved(decodeSafetensors(await fsp.readFile(modelPath), modelPath));
}

function assertNoReserved(metadata: Record<string, string>, part: string): void {
  const used = RESERVED_KEYS.filter((key) => Object.hasOwn(metadata, key));
  if (used.length > 0) {
    throw new CheckpointArgumentError(`${part} metadata must not set reserved keys, got ${used.join(', ')}`);
  }
}

function checkStep(metadata: Record<string, string>, step: number, source: string): void {
  const recorded = metadata[STEP_METADATA_KEY];
  if (recorded === undefined) {
    throw new CorruptCheckpointError(source, `metadata ${STEP_METADATA_KEY} missing, expected "${step}"`);
  }
  if (recorded !== String(step)) {
    throw new CheckpointMismatchError(`${source} is named for step ${step} but its metadata records step ${recorded}`);
  }
}

function withoutReserved(contents: SafetensorsContents): SafetensorsContents {
  const metadata = Object.fromEntries(Object.entries(contents.metadata).filter(([key]) => !RESERVED_KEYS.includes(key)));
  return { tensors: contents.tensors, metadata };
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}
