/** Reads an experiment spec from a file: UTF-8, bounded in size, then `parseSpec`. */
import { readFileSync, statSync } from 'node:fs';
import { SpecError } from '../errors/spec-error';
import type { ExperimentSpec } from '../schema/experiment-schema';
import { MAX_SPEC_LENGTH, parseSpec } from './parse-spec';

/** UTF-8 needs at most 3 bytes per UTF-16 code unit, so this many bytes can hold MAX_SPEC_LENGTH characters. */
const MAX_SPEC_BYTES = 3 * MAX_SPEC_LENGTH;

/**
 * Loads and validates the spec in `path`.
 *
 * @throws SpecError for a file that is too large, not UTF-8, or not a valid spec;
 * file-system errors (ENOENT, EACCES) propagate unchanged.
 */
export function loadSpecFile(path: string): ExperimentSpec {
  const { size } = statSync(path);
  if (size > MAX_SPEC_BYTES) {
    throw new SpecError([{ path: '', message: `expected a spec file of at most ${MAX_SPEC_BYTES} bytes, got ${size}` }], path);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(path));
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    throw new SpecError([{ path: '', message: 'expected UTF-8 text, got bytes that are not valid UTF-8' }], path);
  }
  return parseSpec(text, path);
}
