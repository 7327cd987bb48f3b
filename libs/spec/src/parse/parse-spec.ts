/**
 * Text → validated ExperimentSpec, or a SpecError listing every problem found. The
 * stages, each reporting all of its problems before the next one runs:
 *
 *   1. size      a spec is a few kilobytes; more is a mistake (or an attack)
 *   2. YAML      exactly one document, YAML 1.2 core schema: plain data, no custom tags
 *                (unknown tags are errors), no duplicate keys, bounded alias expansion
 *   3. header    apiVersion and kind; a document of another version or kind is refused
 *                for that reason alone
 *   4. schema    every field, then the cross-field rules; defaults applied
 *
 * Issues carry the line and column of their field in the text where it has one.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { z } from 'zod';
import { SpecError, type SpecIssue } from '../errors/spec-error';
import { envelopeSchema, experimentSchema, type ExperimentSpec } from '../schema/experiment-schema';
import { createIssueFormatter } from './issue-formatter';
import { positionOf } from './yaml-position';

/** Longest spec text accepted, in UTF-16 code units: real specs are a few kB, so 1 MB is generous and still bounded. */
export const MAX_SPEC_LENGTH = 1_000_000;

/** Aliases expanded at most while converting YAML to data, to stop "billion laughs" documents. */
const MAX_ALIAS_COUNT = 100;

/** Validates parsed YAML data with `schema`; throws SpecError with positioned issues. */
function validate<S extends z.ZodType>(schema: S, data: unknown, doc: Document, lineCounter: LineCounter, source?: string): z.output<S> {
  const formatter = createIssueFormatter();
  const result = schema.safeParse(data, { error: formatter.errorMap });
  if (result.success) return result.data;
  const issues = formatter.toSpecIssues(result.error.issues, (path) => positionOf(doc, lineCounter, path));
  throw new SpecError(sortByPosition(issues), source);
}

function sortByPosition(issues: SpecIssue[]): SpecIssue[] {
  return issues
    .map((issue, index) => ({ issue, index }))
    .sort((a, b) => (a.issue.line ?? 0) - (b.issue.line ?? 0) || (a.issue.column ?? 0) - (b.issue.column ?? 0) || a.index - b.index)
    .map(({ issue }) => issue);
}

/** Reads the text as exactly one YAML document of plain data. */
function parseYaml(yamlText: string, source?: string): { doc: Document; lineCounter: LineCounter; data: unknown } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(yamlText, { lineCounter, prettyErrors: false, strict: true, uniqueKeys: true, version: '1.2', schema: 'core' });
  if (!Array.isArray(docs) || docs.length === 0) {
    throw new SpecError([{ path: '', message: 'expected one YAML document with apiVersion, kind, metadata and spec, got no document' }], source);
  }
  const issues: SpecIssue[] = [];
  for (const problem of [...docs[0].errors, ...docs[0].warnings]) {
    const { line, col } = lineCounter.linePos(problem.pos[0]);
    issues.push({ path: '', line, column: col, message: `YAML error at line ${line}, column ${col}: ${problem.message}` });
  }
  if (docs.length > 1) {
    const offset = docs[1].range[0];
    const { line, col } = lineCounter.linePos(offset);
    issues.push({ path: '', line, column: col, message: `expected one YAML document, got ${docs.length} (another starts at line ${line})` });
  }
  if (issues.length > 0) throw new SpecError(sortByPosition(issues), source);
  const doc = docs[0];
  try {
    return { doc, lineCounter, data: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new SpecError([{ path: '', message: `YAML error: ${message}` }], source);
  }
}

/**
 * Parses and validates an experiment spec.
 *
 * @param yamlText the YAML text of one `kind: Experiment` document.
 * @param source where the text came from (a file name), shown in the error message.
 * @returns the spec with every default applied.
 * @throws SpecError listing every problem, each with its field's dotted path.
 */
export function parseSpec(yamlText: string, source?: string): ExperimentSpec {
  if (yamlText.length > MAX_SPEC_LENGTH) {
    throw new SpecError([{ path: '', message: `expected a spec of at most ${MAX_SPEC_LENGTH} characters, got ${yamlText.length}` }], source);
  }
  const { doc, lineCounter, data } = parseYaml(yamlText, source);
  if (data === null || data === undefined) {
    throw new SpecError([{ path: '', message: 'expected a mapping with apiVersion, kind, metadata and spec, got an empty document' }], source);
  }
  validate(envelopeSchema, data, doc, lineCounter, source);
  return validate(experimentSchema, data, doc, lineCounter, source);
}
