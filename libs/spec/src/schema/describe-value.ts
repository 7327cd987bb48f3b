/**
 * How a value that arrived is named in an error message: short, and enough to find it
 * in the YAML (`40`, `"relu"`, `null`, `a list of 3 items`, `a mapping`).
 */

/** Strings longer than this are cut in messages, so a pasted corpus does not flood the terminal. */
const MAX_SHOWN_STRING = 60;

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > MAX_SHOWN_STRING ? `${value.slice(0, MAX_SHOWN_STRING)}…` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return value.length === 1 ? 'a list of 1 item' : `a list of ${value.length} items`;
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}
