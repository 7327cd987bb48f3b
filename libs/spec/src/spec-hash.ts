/**
 * The identity of an experiment: sha256 of the canonical JSON of the parsed spec (the
 * whole document, metadata included, defaults applied). Key order and spelling
 * defaults out explicitly do not change it; any change of a value does.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json';
import type { ExperimentSpec } from './schema/experiment-schema';

/** Lowercase hex sha256 of `canonicalJson(spec)`. */
export function specHash(spec: ExperimentSpec): string {
  return createHash('sha256').update(canonicalJson(spec), 'utf8').digest('hex');
}
