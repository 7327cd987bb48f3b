/**
 * Atomic file replacement. After `writeFileAtomic(path, data)` resolves, `path` holds exactly
 * `data`, durably; if it rejects (or the process dies at any point), `path` holds either its old
 * contents or nothing, never a prefix of `data`. The steps:
 *
 *   1. create `.<name>.tmp-<pid>-<random>` in the same directory (same filesystem, so step 3 is
 *      a rename, not a copy), exclusively so two writers never share a temp file
 *   2. write all of `data`, then fsync the temp file: its bytes are on disk before it gets a name
 *   3. rename the temp file over `path`: POSIX rename replaces the target atomically
 *   4. fsync the directory, so the rename itself survives a power cut
 *
 * On failure in steps 1–3 the temp file is removed. A crash can still leave a temp file behind;
 * `tempFileTarget` lets the owner of a directory recognize and sweep them.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

const TEMP_NAME = /^\.(.+)\.tmp-\d+-[0-9a-f]{12}$/;

export function tempPathFor(target: string): string {
  const name = `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  return path.join(path.dirname(target), name);
}

/** If base name `fileName` is a temp file `writeFileAtomic` made, the base name of its target. */
export function tempFileTarget(fileName: string): string | undefined {
  return TEMP_NAME.exec(fileName)?.[1];
}

export async function writeFileAtomic(target: string, data: Uint8Array): Promise<void> {
  const temp = tempPathFor(target);
  let handle: FileHandle | undefined;
  try {
    handle = await fsp.open(temp, 'wx');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(temp, target);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await fsyncDirectory(path.dirname(target));
}

/** Makes a directory's entries (renames, creations, removals) durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
