/**
 * The window kernel from the command line: `--kernel tfjs` and `--kernel native`
 * train to the same parameters (float32 rounding apart), the run says once which
 * kernel it uses and why, `--kernel native` without the addon fails with the
 * reason, and `unroll doctor` prints its facts and exits 0.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeSafetensors } from '@unroll/checkpoint';
import { loadNativeKernels } from '@unroll/kernels-native';
import { itNative } from '@unroll/kernels-native/testing';
import { workerThreads } from '@unroll/cli/src/commands/up';
import { runCli } from '../support/run-cli';

const SPEC = `apiVersion: unroll/v1
kind: Experiment
metadata: {name: kernels}
spec:
  seed: 5
  backend: cpu
  data: {dataset: text, path: corpus.txt, validationFraction: 0.1}
  model: {cell: lstm, embedding: 8, hidden: 16, layers: 2}
  tbptt: {streams: 4, window: 8, stride: 8}
  loss: cross-entropy
  optimizer: {name: sgd, lr: 0.5}
  steps: 4
`;

const corpus = Array.from({ length: 150 }, (_, i) => `row ${i % 9}: a stitch in time ${i % 4 ? 'saves' : 'spares'} nine.\n`).join('');
const native = loadNativeKernels();

describe('unroll --kernel', () => {
  let dir: string;
  let dataRoot: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'unroll-kernel-'));
    dataRoot = path.join(dir, 'data');
    mkdirSync(dataRoot);
    writeFileSync(path.join(dataRoot, 'corpus.txt'), corpus);
    writeFileSync(path.join(dir, 'spec.yaml'), SPEC);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const train = (kernel: string, env: NodeJS.ProcessEnv = {}) =>
    runCli(['train', path.join(dir, 'spec.yaml'), '--data-root', dataRoot, '--out', path.join(dir, kernel), '--kernel', kernel, '--threads', '1', '--json'], { env });

  itNative('tfjs and native train to the same parameters within 1e-5 over 4 steps, each saying once which kernel and why', async () => {
    const [t, n] = await Promise.all([train('tfjs'), train('native')]);
    expect(t.code).toBe(0);
    expect(n.code).toBe(0);
    expect(t.stderr.match(/window kernel/g)).toHaveLength(1);
    expect(t.stderr).toMatch(/window kernel tfjs — kernel: 'tfjs' requested/);
    expect(n.stderr.match(/window kernel/g)).toHaveLength(1);
    expect(n.stderr).toMatch(/window kernel native — kernel: 'native' requested \(.*1 BLAS thread\)/);
    const ts = JSON.parse(t.stdout);
    const ns = JSON.parse(n.stdout);
    expect([ts.kernel, ns.kernel]).toEqual(['tfjs', 'native']);
    const a = decodeSafetensors(readFileSync(ts.checkpoint)).tensors;
    const b = decodeSafetensors(readFileSync(ns.checkpoint)).tensors;
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    let worst = 0;
    for (const name of Object.keys(a)) {
      const x = a[name].data as Float32Array;
      const y = b[name].data as Float32Array;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / Math.max(1, Math.abs(x[i])));
    }
    if (process.env.UNROLL_PARITY_REPORT) process.stderr.write(`tfjs vs native after 4 steps: max relative parameter difference ${worst.toExponential(2)}\n`);
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(Math.abs(ts.loss - ns.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(ts.loss));
  }, 120_000);

  it('--kernel native with UNROLL_NATIVE=0 exits 1 with the reason; auto falls back to tfjs and says why', async () => {
    const r = await train('native', { UNROLL_NATIVE: '0' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/native kernel is not available: disabled by UNROLL_NATIVE=0/);
    const auto = await train('auto', { UNROLL_NATIVE: '0' });
    expect(auto.code).toBe(0);
    expect(auto.stderr).toMatch(/window kernel tfjs — auto: native kernel unavailable: disabled by UNROLL_NATIVE=0/);
  }, 120_000);

  it('rejects an unknown --kernel with exit 2', async () => {
    const r = await train('gpu');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--kernel expects one of auto, native, tfjs/);
  });

  it('unroll doctor prints backends, the native kernel and Redis, exit 0', async () => {
    const r = await runCli(['doctor', '--redis', 'redis://127.0.0.1:1', '--threads', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cpu\s+available/);
    expect(r.stdout).toMatch(/wasm\s+(available \((no )?SIMD\)|unavailable)/);
    expect(r.stdout).toMatch(/tensorflow\s+(available|unavailable)/);
    expect(r.stdout).toMatch(/tensorflow-gpu\s+(available|unavailable)/);
    if (native.ok) expect(r.stdout).toMatch(/loaded: .*\n\s+BLAS threads: 1\n\s+gate loops: (AVX2|baseline)/);
    expect(r.stdout).toMatch(/redis:\n\s+redis:\/\/127\.0\.0\.1:1: not reachable/);
    const off = await runCli(['doctor', '--redis', 'redis://127.0.0.1:1', '--json'], { env: { UNROLL_NATIVE: '0' } });
    expect(off.code).toBe(0);
    expect(JSON.parse(off.stdout).native).toEqual({ loaded: false, reason: 'disabled by UNROLL_NATIVE=0' });
  }, 60_000);
});

describe('unroll up: BLAS threads per worker', () => {
  it('divides the cores among the local workers (at least 1 each) unless --threads / UNROLL_BLAS_THREADS says otherwise', () => {
    expect(workerThreads(1, undefined, 8)).toBe(8);
    expect(workerThreads(3, undefined, 8)).toBe(2);
    expect(workerThreads(4, undefined, 2)).toBe(1);
    expect(workerThreads(4, 3, 2)).toBe(3);
  });
});
