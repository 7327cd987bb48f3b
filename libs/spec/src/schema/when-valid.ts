/**
 * Cross-field rules run even when unrelated fields are wrong, so one parse reports
 * every problem. A rule declares the fields it reads; it runs only when none of them
 * (and none of their ancestors) failed, because only then are their values the parsed,
 * typed ones. Paths are relative to the object the rule is attached to.
 */
import type { z } from 'zod';

type Payload = z.core.ParsePayload;

function isPrefix(prefix: readonly PropertyKey[], of: readonly PropertyKey[]): boolean {
  return prefix.length <= of.length && prefix.every((key, i) => key === of[i]);
}

/**
 * A `when` guard for `superRefine`: true when no issue touches any of `fields`.
 *
 * @param fields dotted paths relative to the object, e.g. `'window'` or `'data.dataset'`.
 */
export function whenValid(...fields: string[]): (payload: Payload) => boolean {
  const wanted = fields.map((field) => field.split('.'));
  return (payload) =>
    !payload.issues.some((issue) => {
      const at = issue.path ?? [];
      return wanted.some((field) => isPrefix(at, field) || isPrefix(field, at));
    });
}
