import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DataPathError, SpecError, resolveDataPath } from './index';

describe('resolveDataPath', () => {
  let base: string;
  let root: string;

  beforeEach(() => {
    base = mkdtempSync(path.join(tmpdir(), 'unroll-spec-'));
    root = path.join(base, 'data');
    mkdirSync(path.join(root, 'books'), { recursive: true });
    mkdirSync(path.join(base, 'outside'));
    writeFileSync(path.join(root, 'books', 'corpus.txt'), 'hello');
    writeFileSync(path.join(base, 'outside', 'secret.txt'), 'secret');
    symlinkSync(path.join(base, 'outside', 'secret.txt'), path.join(root, 'escape.txt'));
    symlinkSync(path.join(base, 'outside'), path.join(root, 'escape-dir'));
    symlinkSync(path.join(root, 'books', 'corpus.txt'), path.join(root, 'alias.txt'));
  });

  afterEach(() => {
    rmSync(base, { recursive: true, force: true });
  });

  function errorOf(relPath: string, field?: string): DataPathError {
    try {
      resolveDataPath(root, relPath, field);
    } catch (err) {
      expect(err).toBeInstanceOf(DataPathError);
      return err as DataPathError;
    }
    throw new Error(`expected ${relPath} to be refused`);
  }

  it('returns the real path of a file inside the root', () => {
    expect(resolveDataPath(root, 'books/corpus.txt')).toBe(realpathSync(path.join(root, 'books', 'corpus.txt')));
    expect(resolveDataPath(root, 'books/../books/corpus.txt')).toBe(realpathSync(path.join(root, 'books', 'corpus.txt')));
  });

  it('follows a symbolic link that stays inside the root', () => {
    expect(resolveDataPath(root, 'alias.txt')).toBe(realpathSync(path.join(root, 'books', 'corpus.txt')));
  });

  it('refuses an absolute path, naming the field and the root', () => {
    const err = errorOf(path.join(base, 'outside', 'secret.txt'), 'spec.data.path');
    expect(err).toBeInstanceOf(SpecError);
    expect(err.field).toBe('spec.data.path');
    expect(err.root).toBe(root);
    expect(err.issues).toEqual([{ path: 'spec.data.path', message: expect.stringContaining(`inside the data root ${root}`) }]);
    expect(err.message).toMatch(/spec\.data\.path: .*: it is absolute$/m);
  });

  it("refuses '..' that climbs out of the root", () => {
    expect(errorOf('../outside/secret.txt').problem).toBe("its '..' segments climb out of the data root");
    expect(errorOf('books/../../outside/secret.txt').problem).toBe("its '..' segments climb out of the data root");
  });

  it('refuses a symbolic link, to a file or through a directory, that resolves outside the root', () => {
    expect(errorOf('escape.txt').problem).toMatch(/^a symbolic link leads outside the data root/);
    expect(errorOf('escape-dir/secret.txt').problem).toMatch(/^a symbolic link leads outside the data root/);
  });

  it('refuses a path that does not exist', () => {
    expect(errorOf('books/missing.txt').problem).toBe('no such file');
  });

  it('uses the field given by the caller in the message', () => {
    expect(errorOf('/x', 'spec.data.validationPath').message).toContain('spec.data.validationPath: expected a path inside the data root');
  });
});
