import { QueueClosedError, StepTimeoutError, StepWithdrawnError, WindowJobElsewhereError, WindowJobFailedError } from '../cluster-errors';
import { CompletedWindow, WindowJob, WindowQueue, WindowResult } from '../interfaces';
import { validateStepJobs, windowJobId } from '../window-job';

export interface InMemoryWindowQueueOptions {
  /** Attempts per job before runStep rejects, as in BullWindowQueue. @defaultValue 3 */
  attempts?: number;
  /** Delay before a failed job is offered again. @defaultValue 0 (tests need no backoff) */
  backoffMs?: number;
}

interface PendingJob {
  id: string;
  job: WindowJob;
  attemptsMade: number;
  promise: Promise<WindowResult>;
  resolve(r: WindowResult): void;
  reject(e: Error): void;
}

interface Consumer {
  workerId: string;
  handler: (job: WindowJob) => Promise<WindowResult>;
  concurrency: number;
  active: number;
  idle: Array<() => void>;
}

/**
 * WindowQueue inside one process with BullWindowQueue's semantics: jobs are offered
 * to consumers round-robin, a failed job is retried up to `attempts` times, a job id
 * that is still pending is not enqueued again (a re-submitted step joins it).
 * watchCompleted hears each accepted result once, after the call that accepted it,
 * as the windows queue's 'completed' event is heard.
 */
export class InMemoryWindowQueue implements WindowQueue {
  private readonly pending = new Map<string, PendingJob>();
  private readonly ready: PendingJob[] = [];
  private readonly consumers: Consumer[] = [];
  private readonly running = new Set<PendingJob>();
  private readonly attempts: number;
  private readonly backoffMs: number;
  private next = 0;
  private closed = false;
  private readonly watchers = new Set<(done: CompletedWindow) => void>();

  constructor(opts: InMemoryWindowQueueOptions = {}) {
    this.attempts = opts.attempts ?? 3;
    this.backoffMs = opts.backoffMs ?? 0;
  }

  async watchCompleted(handler: (done: CompletedWindow) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new QueueClosedError('watchCompleted on a closed InMemoryWindowQueue');
    this.watchers.add(handler);
    return async () => void this.watchers.delete(handler);
  }

  async runStep(jobs: WindowJob[], opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<WindowResult[]> {
    const stepId = validateStepJobs(jobs);
    if (this.closed) throw new QueueClosedError('runStep on a closed InMemoryWindowQueue');
    const all = Promise.all(jobs.map((job) => this.enqueue(job)));
    this.dispatch();
    if (opts.timeoutMs === undefined && opts.signal === undefined) return all;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      const stop = (error: Error): void => {
        this.withdraw(jobs.map(windowJobId), error);
        reject(error);
      };
      if (opts.timeoutMs !== undefined) timer = setTimeout(() => stop(new StepTimeoutError(stepId, opts.timeoutMs as number)), opts.timeoutMs);
      onAbort = () => stop(new StepWithdrawnError(stepId));
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
    all.catch(() => undefined); // a rejection after the timeout has nobody left to tell
    try {
      return await Promise.race([all, stopped]);
    } finally {
      clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  async consume(
    workerId: string,
    handler: (job: WindowJob) => Promise<WindowResult>,
    opts: { concurrency?: number } = {},
  ): Promise<() => Promise<void>> {
    if (this.closed) throw new QueueClosedError('consume on a closed InMemoryWindowQueue');
    const consumer: Consumer = { workerId, handler, concurrency: opts.concurrency ?? 1, active: 0, idle: [] };
    this.consumers.push(consumer);
    this.dispatch();
    return () => this.stop(consumer);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => this.stop(c)));
    for (const p of this.pending.values()) p.reject(new QueueClosedError(`window job ${p.id}: queue closed`));
    this.pending.clear();
    this.ready.length = 0;
  }

  /** Ids of the jobs not yet finished (waiting, running or waiting to be retried). */
  pendingJobIds(): string[] {
    return [...this.pending.keys()];
  }

  /** Withdraws the given jobs that are not running, as BullWindowQueue does after a timeout. */
  private withdraw(ids: string[], error: Error): void {
    for (const id of ids) {
      const p = this.pending.get(id);
      const i = p === undefined ? -1 : this.ready.indexOf(p);
      if (p === undefined || (i < 0 && this.running.has(p))) continue;
      if (i >= 0) this.ready.splice(i, 1);
      this.pending.delete(id);
      p.reject(error);
    }
  }

  private enqueue(job: WindowJob): Promise<WindowResult> {
    const id = windowJobId(job);
    const existing = this.pending.get(id);
    if (existing !== undefined) return existing.promise;
    let resolve!: (r: WindowResult) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<WindowResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const p: PendingJob = { id, job: { ...job }, attemptsMade: 0, promise, resolve, reject };
    this.pending.set(id, p);
    this.ready.push(p);
    return promise;
  }

  /** Hands ready jobs to consumers with a free slot, starting after the last one served. */
  private dispatch(): void {
    while (this.ready.length > 0) {
      const n = this.consumers.length;
      let chosen: Consumer | undefined;
      for (let k = 0; k < n && chosen === undefined; k++) {
        const c = this.consumers[(this.next + k) % n];
        if (c.active < c.concurrency) {
          chosen = c;
          this.next = (this.next + k + 1) % n;
        }
      }
      if (chosen === undefined) return;
      void this.run(chosen, this.ready.shift() as PendingJob);
    }
  }

  private async run(c: Consumer, p: PendingJob): Promise<void> {
    c.active++;
    p.attemptsMade++;
    this.running.add(p);
    try {
      await Promise.resolve(); // run the handler outside the caller's stack, as a real queue would
      const result = await c.handler({ ...p.job });
      if (this.pending.get(p.id) === p) {
        this.pending.delete(p.id);
        p.resolve({ ...result });
        const { experiment, generation, step, firstStream } = p.job;
        for (const watch of this.watchers) setImmediate(() => watch({ experiment, generation, step, firstStream, result: { ...result } }));
      }
    } catch (error) {
      if (this.pending.get(p.id) !== p) return;
      // Another consumer's job (WindowJobElsewhereError) is offered again after its retryAfterMs, the attempt not counted.
      const elsewhere = error instanceof WindowJobElsewhereError;
      if (elsewhere) p.attemptsMade--;
      if (elsewhere || p.attemptsMade < this.attempts) {
        setTimeout(
          () => {
            if (this.pending.get(p.id) !== p) return;
            this.ready.push(p);
            this.dispatch();
          },
          elsewhere ? error.retryAfterMs : this.backoffMs,
        );
      } else {
        this.pending.delete(p.id);
        p.reject(new WindowJobFailedError(p.id, p.attemptsMade, error instanceof Error ? error.message : String(error)));
      }
    } finally {
      this.running.delete(p);
      c.active--;
      if (c.active === 0) for (const wake of c.idle.splice(0)) wake();
      this.dispatch();
    }
  }

  private async stop(c: Consumer): Promise<void> {
    const i = this.consumers.indexOf(c);
    if (i >= 0) this.consumers.splice(i, 1);
    if (c.active > 0) await new Promise<void>((resolve) => c.idle.push(resolve));
  }
}
