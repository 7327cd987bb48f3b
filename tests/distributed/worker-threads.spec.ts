/**
 * BLAS threads of local workers: `unroll up --workers N` hands each worker its
 * share of the cores (max(1, floor(cores / N))), and every worker runs its OpenMP
 * threads with OMP_WAIT_POLICY=PASSIVE unless told otherwise — two workers on two
 * cores each spinning two OpenMP threads made 2 workers slower than one
 * (bench/cluster/RESULTS.md, openmp-wait.ts).
 */
import { cgroupCpuLimit, usableCores, workerNodeFlags, workerShare, workerThreads } from '@unroll/cluster';
import { deleteKeys, freshPrefix, REDIS_URL, startUp, type UpProcess } from './support/processes';
import { tinyWorkspace } from './support/tiny-experiment';

describe('worker BLAS threads', () => {
  it('reads the cgroup CPU quota (v2 cpu.max, v1 cfs quota/period), rounded down, at least 1', () => {
    const files = (m: Record<string, string>) => (f: string) => m[f];
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' }))).toBeUndefined();
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '250000 100000\n' }))).toBe(2);
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '50000 100000\n' }))).toBe(1);
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }))).toBeUndefined();
    expect(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '300000', '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000' }))).toBe(3);
    expect(cgroupCpuLimit(files({}))).toBeUndefined();
  });

  it('a worker takes --threads, else UNROLL_BLAS_THREADS, else its usable cores (a pod: its CPU limit)', () => {
    expect(workerThreads(3, { UNROLL_BLAS_THREADS: '5' }, undefined)).toEqual({ threads: 3, source: '--threads' });
    expect(workerThreads(undefined, { UNROLL_BLAS_THREADS: '5' }, undefined)).toEqual({ threads: 5, source: 'UNROLL_BLAS_THREADS' });
    expect(() => workerThreads(undefined, { UNROLL_BLAS_THREADS: 'two' }, undefined)).toThrow(/UNROLL_BLAS_THREADS expects a positive integer/);
    expect(workerThreads(undefined, {}, undefined)).toEqual({ threads: usableCores(undefined), source: 'cores available' });
    expect(workerThreads(undefined, {}, 1).threads).toBe(1);
    expect(workerShare(2, 2)).toBe(1);
    expect(workerShare(3, 8)).toBe(2);
    expect(workerShare(4, 2)).toBe(1);
  });

  it('compute processes on at most 2 cores collect garbage single-threaded (node --single-threaded-gc), on more with node’s default', () => {
    expect(workerNodeFlags(1)).toEqual(['--single-threaded-gc']);
    expect(workerNodeFlags(2)).toEqual(['--single-threaded-gc']);
    expect(workerNodeFlags(3)).toEqual([]);
  });

  describe('unroll up --workers 2 (real processes)', () => {
    const prefix = freshPrefix('threads');
    let up: UpProcess | undefined;

    afterAll(async () => {
      await up?.stop();
      await deleteKeys(prefix);
    });

    it("hands each worker max(1, floor(cores / 2)) BLAS threads and the node flags of its share; each logs them with OMP_WAIT_POLICY PASSIVE", async () => {
      const { dataRoot } = tinyWorkspace('unroll-threads-');
      const env = { ...process.env };
      delete env.UNROLL_BLAS_THREADS;
      delete env.OMP_WAIT_POLICY;
      up = startUp(['--workers', '2', '--redis', REDIS_URL, '--prefix', prefix, '--data-root', dataRoot, '--backend', 'cpu'], env);
      await up.ready;
      const lines = up.log().split('\n').filter((l) => l.startsWith('unroll-worker: ready'));
      expect(lines).toHaveLength(2);
      for (const line of lines) {
        expect(line).toContain(`BLAS threads ${workerShare(2, usableCores())} from --threads, OMP_WAIT_POLICY PASSIVE`);
        expect(line).toContain(`GC ${workerNodeFlags().includes('--single-threaded-gc') ? 'single-threaded' : 'parallel'}`);
      }
      expect(await up.stop()).toBe(0);
      up = undefined;
    }, 60_000);
  });
});
