/**
 * The conformance suite of WindowQueue, for every implementation. A fixture opens
 * several clients of one queue, as the coordinator and the workers (separate
 * processes) would. Factories should configure `attempts: 3` and a short backoff.
 */
import { StepTimeoutError, WindowJobElsewhereError, WindowJobFailedError } from '../cluster-errors';
import { CompletedWindow, WindowJob, WindowQueue, WindowResult } from '../interfaces';
import { sleep, useFixture, waitFor } from './conformance-helpers';

export interface WindowQueueFixture {
  /** A client of the shared queue. */
  open(): Promise<WindowQueue>;
  /** Jobs the backend still holds (e.g. job keys found by a SCAN of the prefix). */
  leftoverJobs(): Promise<string[]>;
  /** Closes every client and releases the backend. */
  close(): Promise<void>;
}

const ATTEMPTS = 3;

const step = (n: number, s = 0, experiment = 'exp'): WindowJob[] =>
  Array.from({ length: n }, (_, i) => ({ experiment, generation: 1, step: s, firstStream: 2 * i, streams: 2 }));

const result = (job: WindowJob, worker: string): WindowResult => ({ lossSum: job.firstStream * 10 + job.step, count: job.streams * 35, worker, computeSeconds: 0.01 });

export function describeWindowQueueConformance(name: string, factory: () => Promise<WindowQueueFixture>): void {
  describe(`WindowQueue conformance: ${name}`, () => {
    const fixture = useFixture(factory);
    let coordinator: WindowQueue;
    beforeEach(async () => {
      coordinator = await fixture().open();
    });

    it('returns results in job order, with jobs spread over two consumers, and leaves no jobs behind', async () => {
      for (const id of ['w1', 'w2']) {
        await (await fixture().open()).consume(id, async (job) => {
          await sleep(25);
          return result(job, id);
        });
      }
      const jobs = step(8);
      const results = await coordinator.runStep(jobs, { timeoutMs: 20_000 });
      expect(results.map((r) => r.lossSum)).toEqual(jobs.map((j) => j.firstStream * 10));
      expect(results.map((r) => r.computeSeconds)).toEqual(jobs.map(() => 0.01));
      expect(results.map((r) => r.count)).toEqual(jobs.map(() => 70));
      expect(new Set(results.map((r) => r.worker))).toEqual(new Set(['w1', 'w2']));
      const next = await coordinator.runStep(step(3, 1), { timeoutMs: 20_000 });
      expect(next.map((r) => r.lossSum)).toEqual([1, 21, 41]);
      await waitFor(async () => (await fixture().leftoverJobs()).length === 0, 'no jobs left');
    });

    it('hands the handler the job as enqueued, and its result back intact (startedAt included)', async () => {
      const seen: WindowJob[] = [];
      await (await fixture().open()).consume('w', async (job) => {
        seen.push(job);
        return { ...result(job, 'w'), startedAt: 1_700_000_000_123 };
      });
      const jobs = [{ experiment: 'exp:odd/name', generation: 7, step: 12, firstStream: 0, streams: 3 }];
      const [r] = await coordinator.runStep(jobs, { timeoutMs: 20_000 });
      expect(seen).toEqual(jobs);
      expect(r).toEqual({ ...result(jobs[0], 'w'), startedAt: 1_700_000_000_123 });
    });

    it('watchCompleted hears every accepted result once, naming its job (odd experiment names included)', async () => {
      const watcher = await fixture().open();
      const heard: CompletedWindow[] = [];
      const stop = await watcher.watchCompleted?.((done) => heard.push(done));
      if (!stop) return; // optional in the interface; both implementations here have it
      await (await fixture().open()).consume('w', async (job) => result(job, 'w'));
      const jobs = step(2, 4, 'exp:odd/name');
      const results = await coordinator.runStep(jobs, { timeoutMs: 20_000 });
      await waitFor(async () => heard.length >= 2, 'both completions heard');
      await sleep(50);
      const byFirst = [...heard].sort((a, b) => a.firstStream - b.firstStream);
      expect(byFirst).toEqual(jobs.map((j, i) => ({ experiment: 'exp:odd/name', generation: j.generation, step: 4, firstStream: j.firstStream, result: results[i] })));
      await stop();
    });

    it('watchCompleted on the instance whose consumer ran the jobs hears each once too, as does another instance', async () => {
      const member = await fixture().open();
      const other = await fixture().open();
      const heardHere: CompletedWindow[] = [];
      const heardThere: CompletedWindow[] = [];
      const stopHere = await member.watchCompleted?.((done) => heardHere.push(done));
      const stopThere = await other.watchCompleted?.((done) => heardThere.push(done));
      if (!stopHere || !stopThere) return; // optional in the interface; both implementations here have it
      await member.consume('w', async (job) => result(job, 'w'));
      const jobs = step(3, 6);
      const results = await coordinator.runStep(jobs, { timeoutMs: 20_000 });
      await waitFor(async () => heardHere.length >= 3 && heardThere.length >= 3, 'every completion heard by both watchers');
      await sleep(300); // a second delivery of any job would arrive meanwhile
      const expected = jobs.map((j, i) => ({ experiment: j.experiment, generation: j.generation, step: 6, firstStream: j.firstStream, result: results[i] }));
      for (const heard of [heardHere, heardThere]) {
        expect([...heard].sort((a, b) => a.firstStream - b.firstStream)).toEqual(expected);
      }
      await stopHere();
      await stopThere();
    });

    it('retries a handler that throws once', async () => {
      const calls = new Map<number, number>();
      await (await fixture().open()).consume('w', async (job) => {
        const n = (calls.get(job.firstStream) ?? 0) + 1;
        calls.set(job.firstStream, n);
        if (job.firstStream === 2 && n === 1) throw new Error('transient');
        return result(job, 'w');
      });
      const results = await coordinator.runStep(step(3), { timeoutMs: 20_000 });
      expect(results.map((r) => r.lossSum)).toEqual([0, 20, 40]);
      expect([...calls.entries()].sort((a, b) => a[0] - b[0])).toEqual([[0, 1], [2, 2], [4, 1]]);
    });

    it('rejects runStep when a handler always throws, after every attempt, and leaves no jobs behind', async () => {
      let failing = 0;
      await (await fixture().open()).consume('w', async (job) => {
        if (job.firstStream === 2) {
          failing++;
          throw new Error('boom: NaN in forward');
        }
        return result(job, 'w');
      });
      const run = coordinator.runStep(step(3), { timeoutMs: 20_000 });
      await expect(run).rejects.toBeInstanceOf(WindowJobFailedError);
      await expect(run).rejects.toThrow(/window job exp:1:0:2 failed .*boom: NaN in forward/);
      expect(failing).toBe(ATTEMPTS);
      await waitFor(async () => (await fixture().leftoverJobs()).length === 0, 'no jobs left');
    });

    it('a job handed back with WindowJobElsewhereError goes to another consumer without using an attempt, however often', async () => {
      // "outsider" takes every job it can and hands each back (it is not in the ring) more often than there are attempts.
      let handedBack = 0;
      await (await fixture().open()).consume('outsider', async (job) => {
        handedBack++;
        throw new WindowJobElsewhereError(`worker outsider is not a member for ${job.firstStream}`, 5);
      });
      await sleep(100);
      await (await fixture().open()).consume('member', async (job) => {
        await sleep(30);
        return result(job, 'member');
      });
      const results = await coordinator.runStep(step(4), { timeoutMs: 20_000 });
      expect(results.map((r) => r.worker)).toEqual(['member', 'member', 'member', 'member']);
      expect(handedBack).toBeGreaterThan(ATTEMPTS);
      await waitFor(async () => (await fixture().leftoverJobs()).length === 0, 'no jobs left');
    });

    it('does not run a job twice when its step is submitted twice', async () => {
      const calls: number[] = [];
      const jobs = step(4);
      const first = coordinator.runStep(jobs, { timeoutMs: 20_000 });
      const again = (await fixture().open()).runStep(jobs, { timeoutMs: 20_000 });
      const third = coordinator.runStep(jobs, { timeoutMs: 20_000 });
      await sleep(200); // all three submitted before anyone consumes
      await (await fixture().open()).consume('w', async (job) => {
        calls.push(job.firstStream);
        await sleep(10);
        return result(job, 'w');
      });
      const [a, b, c] = await Promise.all([first, again, third]);
      expect(b).toEqual(a);
      expect(c).toEqual(a);
      expect(calls.sort((x, y) => x - y)).toEqual([0, 2, 4, 6]);
    });

    it('rejects with StepTimeoutError when nobody consumes, and withdraws the jobs', async () => {
      const run = coordinator.runStep(step(2), { timeoutMs: 300 });
      await expect(run).rejects.toBeInstanceOf(StepTimeoutError);
      await expect(run).rejects.toThrow('step exp:1:0 did not finish within 300 ms');
      await waitFor(async () => (await fixture().leftoverJobs()).length === 0, 'no jobs left');
    });

    it('runs at most `concurrency` jobs of a consumer at once', async () => {
      let active = 0;
      let most = 0;
      await (await fixture().open()).consume(
        'w',
        async (job) => {
          most = Math.max(most, ++active);
          await sleep(60);
          active--;
          return result(job, 'w');
        },
        { concurrency: 3 },
      );
      await coordinator.runStep(step(9), { timeoutMs: 20_000 });
      expect(most).toBe(3);
    });

    it('a stopped consumer takes no more jobs', async () => {
      const q1 = await fixture().open();
      const stop = await q1.consume('w1', async (job) => result(job, 'w1'));
      await coordinator.runStep(step(1), { timeoutMs: 20_000 });
      await stop();
      await (await fixture().open()).consume('w2', async (job) => result(job, 'w2'));
      const results = await coordinator.runStep(step(4, 1), { timeoutMs: 20_000 });
      expect(results.map((r) => r.worker)).toEqual(['w2', 'w2', 'w2', 'w2']);
    });

    it('refuses jobs of different steps in one call', async () => {
      const jobs = [...step(1, 0), ...step(1, 1)];
      await expect(coordinator.runStep(jobs)).rejects.toThrow('runStep expects the jobs of one step');
      await expect(coordinator.runStep([])).rejects.toThrow('at least one window job');
    });
  });
}
