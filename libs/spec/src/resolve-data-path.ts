/**
 * A spec reads data only from the configured data root. `resolveDataPath` is the one
 * gate between a path written in a spec and the file system:
 *
 *   1. the path itself: relative, '/'-separated, no '..' climbing out (same rule as the schema)
 *   2. both root and target resolved with realpath, following every symbolic link
 *   3. the real target must lie inside the real root
 *
 * Open the returned real path, not the original one, so a link cannot be swapped in
 * between the check and the read through the path components the check resolved.
 */
import { realpathSync } from 'node:fs';
import * as path from 'node:path';
import { DataPathError } from './errors/spec-error';
import { relativePathProblem } from './schema/relative-data-path';

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

function realpathOr(target: string, onMissing: () => DataPathError): string {
  try {
    return realpathSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') throw onMissing();
    throw err;
  }
}

/**
 * Resolves a spec's data path against the data root.
 *
 * @param dataRoot the configured data root (absolute, or relative to the working directory).
 * @param relPath the path as written in the spec.
 * @param field the spec field holding the path, for the error message.
 * @returns the real (symlink-free, absolute) path of the file.
 * @throws DataPathError when the path is absolute, climbs out with '..', resolves
 * outside the root through a symbolic link, or does not exist.
 */
export function resolveDataPath(dataRoot: string, relPath: string, field = 'spec.data.path'): string {
  const problem = relativePathProblem(relPath);
  if (problem !== undefined) throw new DataPathError(field, dataRoot, relPath, problem);
  const realRoot = realpathOr(dataRoot, () => new DataPathError(field, dataRoot, relPath, 'the data root does not exist'));
  const realTarget = realpathOr(path.resolve(realRoot, relPath), () => new DataPathError(field, dataRoot, relPath, 'no such file'));
  if (!isInside(realRoot, realTarget)) {
    throw new DataPathError(field, dataRoot, relPath, `a symbolic link leads outside the data root, to ${realTarget}`);
  }
  return realTarget;
}
