/**
 * The project tags are enforced, not decorative: ESLint's
 * @nx/enforce-module-boundaries refuses imports that cross the layers.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../support/run-cli';

function lint(file: string, source: string): { status: number | null; out: string } {
  const r = spawnSync(path.join(REPO_ROOT, 'node_modules/.bin/eslint'), ['--stdin', '--stdin-filename', file], { cwd: REPO_ROOT, input: source, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('module boundaries', () => {
  it.each([
    ['libs/models/src/probe.ts', "import { Queue } from 'bullmq';\nexport const q = Queue;\n", /type:model.*not allowed to import "bullmq"/],
    ['libs/models/src/probe.ts', "import * as grpc from '@grpc/grpc-js';\nexport const g = grpc;\n", /not allowed to import "@grpc\/grpc-js"/],
    ['libs/spec/src/probe.ts', "import { tf } from '@unroll/models';\nexport const t = tf;\n", /type:util.*can only depend on libs tagged with "type:util"/],
    ['libs/checkpoint/src/probe.ts', "import * as tf from '@tensorflow/tfjs-core';\nexport const t = tf;\n", /not allowed to import "@tensorflow\/tfjs-core"/],
  ])('%s: refuses %j', (file, source, message) => {
    const r = lint(file, source);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(message);
  }, 60000);

  it('allows what the layers permit', () => {
    const r = lint('libs/bptt/src/probe.ts', "import { tf } from '@unroll/models';\nexport const t = tf;\n");
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  }, 60000);
});
