/**
 * Turns zod issues into SpecIssues whose messages name what was expected and what
 * arrived. Leaf fields word their own messages (field-builders.ts); this covers what
 * only the enclosing object or union knows:
 *
 *   invalid_type on an object    `expected a mapping, got 5`
 *   bad discriminator            `expected one of rnn | lstm | gru, got "transformer"`
 *   unknown key                  one issue per key, at the key's own path, with the
 *                                closest allowed name and the list of allowed names
 *
 * Zod words messages only when the error is read, after the issue paths are complete,
 * so the error map can remember the allowed keys of each object by its path.
 */
import { z } from 'zod';
import type { SpecIssue } from '../errors/spec-error';
import { describeValue } from '../schema/describe-value';
import { closestName } from './closest-name';
import { formatFieldPath } from './field-path';

/** What a zod issue's `expected` names, in the words of a YAML author. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  null: 'null',
};

/** Finds the line and column of a field in the source text. */
export type Locate = (path: readonly PropertyKey[]) => { line: number; column: number } | undefined;

/** A SpecIssue at `path`, with its position when `locate` knows it. */
function specIssue(path: readonly PropertyKey[], message: string, locate?: Locate): SpecIssue {
  const position = locate?.(path);
  return { path: formatFieldPath(path), message, ...position };
}

export interface IssueFormatter {
  /** Pass as `error` in zod's parse options. */
  readonly errorMap: (issue: z.core.$ZodRawIssue) => string | undefined;
  /**
   * Converts the issues of a failed parse.
   * @param locate where a field (by its raw path) sits in the source text, if known.
   */
  toSpecIssues(issues: readonly z.core.$ZodIssue[], locate?: Locate): SpecIssue[];
}

/** Keys an object accepts, leaving out the declared-but-forbidden ones (see `forbidden`). */
function allowedKeys(schema: z.core.$ZodObject): string[] {
  const shape = schema._zod.def.shape;
  return Object.keys(shape).filter((key) => {
    const field = shape[key];
    return !(field instanceof z.core.$ZodOptional && field._zod.def.innerType instanceof z.core.$ZodNever);
  });
}

function wordIssue(issue: z.core.$ZodRawIssue, allowedByPath: Map<string, string[]>): string | undefined {
  const got = describeValue(issue.input);
  const missing = issue.input === undefined;
  switch (issue.code) {
    case 'invalid_type': {
      const wanted = TYPE_NAMES[issue.expected] ?? issue.expected;
      return missing ? `required field is missing; expected ${wanted}` : `expected ${wanted}, got ${got}`;
    }
    case 'invalid_union': {
      const allowed: unknown = issue.options;
      if (issue.discriminator === undefined || !Array.isArray(allowed)) return `expected one of the allowed forms, got ${got}`;
      const options = allowed.map(String).join(' | ');
      const input: unknown = issue.input;
      const value = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[issue.discriminator] : undefined;
      return value === undefined ? `required field is missing; expected one of ${options}` : `expected one of ${options}, got ${describeValue(value)}`;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}, got ${got}`;
    case 'unrecognized_keys':
      if (issue.inst instanceof z.core.$ZodObject) allowedByPath.set(formatFieldPath(issue.path ?? []), allowedKeys(issue.inst));
      return `unknown field(s) ${issue.keys.join(', ')}`;
    default:
      return undefined;
  }
}

export function createIssueFormatter(): IssueFormatter {
  const allowedByPath = new Map<string, string[]>();
  return {
    errorMap: (issue) => wordIssue(issue, allowedByPath),
    toSpecIssues: (issues, locate) =>
      issues.flatMap((issue): SpecIssue[] => {
        if (issue.code !== 'unrecognized_keys') return [specIssue(issue.path, issue.message, locate)];
        const allowed = allowedByPath.get(formatFieldPath(issue.path)) ?? [];
        return issue.keys.map((key) => {
          const suggestion = closestName(key, allowed);
          const hint = suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`;
          const list = allowed.length === 0 ? '' : `; expected one of ${allowed.join(', ')}`;
          return specIssue([...issue.path, key], `unknown field${hint}${list}`, locate);
        });
      }),
  };
}
