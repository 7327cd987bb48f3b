/**
 * The static rule for a data path in a spec: a spec is data, and it may name only files
 * under the configured data root. Written with '/' separators on every OS so a spec is
 * portable; never absolute; no '..' that climbs out of the root. `resolveDataPath`
 * applies the same rule and then follows symbolic links on the real file system.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { describeValue } from './describe-value';
import { expected } from './field-builders';

const WHAT = "a '/'-separated path relative to the data root";

/** Why `relPath` may not be used as a data path, or undefined when it may. */
export function relativePathProblem(relPath: string): string | undefined {
  if (relPath === '') return 'it is empty';
  if (relPath.includes('\0')) return 'it contains a NUL byte';
  if (relPath.includes('\\')) return "it contains '\\' (use '/' as the separator)";
  if (path.posix.isAbsolute(relPath) || /^[A-Za-z]:/.test(relPath)) return 'it is absolute';
  const normal = path.posix.normalize(relPath);
  if (normal === '..' || normal.startsWith('../')) return "its '..' segments climb out of the data root";
  return undefined;
}

/** A spec field holding a path under the data root. */
export function relativeDataPath() {
  return z.string({ error: expected(WHAT) }).superRefine((relPath, ctx) => {
    const problem = relativePathProblem(relPath);
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', input: relPath, message: `expected ${WHAT}, got ${describeValue(relPath)}: ${problem}` });
    }
  });
}
