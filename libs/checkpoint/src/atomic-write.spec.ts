import { mkdtempSync, promises as fsp, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { tempFileTarget, tempPathFor, writeFileAtomic } from './atomic-write';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'unroll-atomic-'));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates and replaces a file, leaving no temp file', async () => {
    const target = path.join(dir, 'a.bin');
    await writeFileAtomic(target, Buffer.from('first'));
    expect(readFileSync(target, 'utf8')).toBe('first');
    await writeFileAtomic(target, Buffer.from('second, longer'));
    expect(readFileSync(target, 'utf8')).toBe('second, longer');
    expect(readdirSync(dir)).toEqual(['a.bin']);
  });

  it('leaves the old target intact and removes the temp file when a write fails halfway', async () => {
    const target = path.join(dir, 'a.bin');
    writeFileSync(target, 'old contents');
    const realOpen = fsp.open.bind(fsp);
    let tempSeen = '';
    jest.spyOn(fsp, 'open').mockImplementation(async (file, flags, mode): Promise<FileHandle> => {
      const handle = await realOpen(file, flags, mode);
      handle.writeFile = async (data: string | Uint8Array): Promise<void> => {
        // Half the bytes reach the temp file, then the disk fills up.
        await handle.write(Buffer.from(data).subarray(0, 4));
        tempSeen = readFileSync(String(file), 'utf8');
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      };
      return handle;
    });
    await expect(writeFileAtomic(target, Buffer.from('new contents'))).rejects.toThrow('ENOSPC');
    expect(tempSeen).toBe('new ');
    expect(readFileSync(target, 'utf8')).toBe('old contents');
    expect(readdirSync(dir)).toEqual(['a.bin']);
  });

  it('removes the fully written temp file when the rename fails', async () => {
    // A non-empty directory cannot be replaced by a file: rename fails after the data was synced.
    const target = path.join(dir, 'taken');
    mkdirSync(target);
    writeFileSync(path.join(target, 'inside'), 'x');
    await expect(writeFileAtomic(target, Buffer.from('data'))).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(readdirSync(dir)).toEqual(['taken']);
    expect(readdirSync(target)).toEqual(['inside']);
  });

  it('fails without creating anything when the directory does not exist', async () => {
    const target = path.join(dir, 'gone', 'a.bin');
    await expect(writeFileAtomic(target, Buffer.from('data'))).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('concurrent writers leave exactly one complete version', async () => {
    const target = path.join(dir, 'a.bin');
    const versions = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024 + i, i + 1));
    await Promise.all(versions.map((v) => writeFileAtomic(target, v)));
    const final = readFileSync(target);
    expect(versions.some((v) => v.equals(final))).toBe(true);
    expect(readdirSync(dir)).toEqual(['a.bin']);
  });

  it('names temp files so that their target can be recognized', () => {
    const temp = path.basename(tempPathFor(path.join(dir, 'step-00000001.safetensors')));
    expect(temp).toMatch(new RegExp(`^\\.step-00000001\\.safetensors\\.tmp-${process.pid}-[0-9a-f]{12}$`));
    expect(tempFileTarget(temp)).toBe('step-00000001.safetensors');
    expect(tempFileTarget('step-00000001.safetensors')).toBeUndefined();
    expect(tempFileTarget('.x.tmp-12-nothex')).toBeUndefined();
  });
});
