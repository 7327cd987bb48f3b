/**
 * Leaf schemas for spec fields, each with one plain-language description of what it
 * accepts. Every issue a leaf raises — wrong type, out of range, missing — is worded as
 * `expected <description>, got <value>`, so messages read the same across the spec and
 * never fall back to zod's generic wording. The dotted path is added by the parser.
 */
import { z } from 'zod';
import { describeValue } from './describe-value';

/** The part of a zod issue a message needs. */
interface IssueInput {
  readonly input?: unknown;
}

/** An error map that words every issue of one field as `expected <what>, got <value>`. */
export function expected(what: string): (issue: IssueInput) => string {
  return (issue) =>
    issue.input === undefined ? `required field is missing; expected ${what}` : `expected ${what}, got ${describeValue(issue.input)}`;
}

/** An integer ≥ min. */
export function intAtLeast(min: number) {
  return z.int({ error: expected(`an integer ≥ ${min}`) }).min(min);
}

/** A finite number in the interval given by the bounds; the description shows the interval. */
export function numberIn(bounds: { gt?: number; gte?: number; lt?: number; lte?: number }) {
  const low = bounds.gt !== undefined ? `(${bounds.gt}` : bounds.gte !== undefined ? `[${bounds.gte}` : '(-∞';
  const high = bounds.lt !== undefined ? `${bounds.lt})` : bounds.lte !== undefined ? `${bounds.lte}]` : '∞)';
  let schema = z.number({ error: expected(`a number in ${low}, ${high}`) });
  if (bounds.gt !== undefined) schema = schema.gt(bounds.gt);
  if (bounds.gte !== undefined) schema = schema.gte(bounds.gte);
  if (bounds.lt !== undefined) schema = schema.lt(bounds.lt);
  if (bounds.lte !== undefined) schema = schema.lte(bounds.lte);
  return schema;
}

/** One of a fixed set of strings, listed in the message. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: expected(`one of ${values.join(' | ')}`) });
}

/** Exactly this string (apiVersion, kind, a discriminator value). */
export function exactly<const T extends string>(value: T) {
  return z.literal(value, { error: expected(JSON.stringify(value)) });
}

/** A boolean. */
export function bool() {
  return z.boolean({ error: expected('true or false') });
}

/**
 * A field that must be absent in this variant, e.g. `activation` on an LSTM. It is
 * declared (rather than left to the unknown-key check) so the message can say why.
 * In JSON Schema it becomes `{"not": {}}`: present means invalid.
 *
 * @param reason why it is not allowed here, e.g. `only allowed with cell rnn (this model has cell lstm)`.
 */
export function forbidden(reason: string) {
  return z.never({ error: (issue: IssueInput) => `${reason}, got ${describeValue(issue.input)}` }).optional();
}
