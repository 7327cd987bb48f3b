/**
 * The committed generated types must be exactly what `npm run generate` produces
 * from the committed .proto: regenerate into a temporary directory and compare
 * file by file.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const projectRoot = path.join(__dirname, '..');
const committedDir = path.join(__dirname, 'generated');

function listFiles(dir: string, prefix = ''): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() ? listFiles(path.join(dir, entry.name), path.join(prefix, entry.name)) : [path.join(prefix, entry.name)],
    )
    .sort();
}

/** The `generate` script with its `--outDir` pointed elsewhere, run through the same binary. */
function regenerateInto(outDir: string): void {
  const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: { generate: string } };
  const [bin, ...args] = pkg.scripts.generate.split(/\s+/);
  const outIndex = args.indexOf('--outDir');
  expect(outIndex).toBeGreaterThanOrEqual(0);
  args[outIndex + 1] = outDir;
  const binPath = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
  expect(bin).toBe('proto-loader-gen-types');
  execFileSync(process.execPath, [binPath, ...args], { cwd: projectRoot, stdio: 'pipe' });
}

describe('generated collective types', () => {
  it('match a fresh regeneration from proto/unroll/v1/collective.proto', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unroll-proto-gen-'));
    try {
      regenerateInto(tmp);
      const fresh = listFiles(tmp);
      expect(listFiles(committedDir)).toEqual(fresh);
      for (const file of fresh) {
        const expected = fs.readFileSync(path.join(tmp, file), 'utf8');
        const actual = fs.readFileSync(path.join(committedDir, file), 'utf8');
        if (actual !== expected) {
          throw new Error(`src/generated/${file} is out of date; run \`npm run generate -w @unroll/proto\``);
        }
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);
});
