import { EventEmitter } from 'node:events';
import { DelayedError, FlowProducer, Job, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { BullQueueOptions, ResolvedBullOptions, bullConnection, bullJobId, parseWindowBullId, resolveBullOptions } from './bull-connection';
import { ClusterError, QueueClosedError, StepTimeoutError, StepWithdrawnError, WindowJobElsewhereError, WindowJobFailedError } from './cluster-errors';
import { CompletedWindow, WindowJob, WindowQueue, WindowResult } from './interfaces';
import { parseWindowJob, parseWindowResult, validateStepJobs, windowJobId } from './window-job';

export interface BullWindowQueueOptions extends BullQueueOptions {
  /** Attempts per window job before the step fails. @defaultValue 3 — a crashed or preempted worker, then one more */
  attempts?: number;
  /** First retry delay, doubled on each further retry. @defaultValue 1000 ms */
  backoffMs?: number;
  /**
   * How long a consumer's lock on a job lasts; it renews it every half. A worker that
   * dies stops renewing, and the job is retried elsewhere within about
   * lockDurationMs + stalledIntervalMs. @defaultValue 10000 ms — the DESIGN's "short lock"
   */
  lockDurationMs?: number;
  /** How often consumers look for jobs whose lock expired. @defaultValue 5000 ms */
  stalledIntervalMs?: number;
  /** Times a job may be recovered from a dead worker before it fails. @defaultValue 2 */
  maxStalledCount?: number;
}

/** What the parent (step) job carries: its window jobs in order. */
interface StepData {
  windows: Array<{ id: string; bullId: string }>;
}

/** The reason a step job fails with when a window job failed for good. */
const WINDOW_FAILURE = 'unroll-window-failure:';

/**
 * WindowQueue on BullMQ. The protocol of one step:
 *
 * 1. runStep() adds one flow: a parent job `<experiment>/<generation>/<step>` in queue
 *    `${prefix}-steps` whose children are the window jobs
 *    `<experiment>/<generation>/<step>/<firstStream>` in `${prefix}-windows` (the logical
 *    ids `${experiment}:${generation}:${step}:${firstStream}` with BullMQ-safe
 *    separators, see bullJobId). Ids are deterministic: if the parent already exists
 *    (a re-submitted step), nothing is added and the call waits for the existing one.
 * 2. Workers' consume() loops take window jobs. Each holds a short lock it renews while
 *    the handler runs; a job whose worker died is moved back to wait by the stalled
 *    check and runs elsewhere. A handler that throws is retried `attempts` times with
 *    exponential backoff — except with WindowJobElsewhereError (a worker outside the
 *    job's ring): the job is delayed by its retryAfterMs and offered again, its
 *    attempt not counted. A child's return value is kept by BullMQ on its parent.
 * 3. When the last child completes, BullMQ moves the parent to wait; a small Worker on
 *    the steps queue, inside the BullWindowQueue that called runStep (started by its
 *    first runStep), processes it: it returns the children's values in job order.
 *    A child that fails for good (continueParentOnFailure) releases the parent at once;
 *    the parent job removes the children not yet started and fails, naming the child.
 * 4. runStep() resolves as soon as it has heard every window job's own 'completed'
 *    event on the windows queue's QueueEvents (the fast path: the event is written
 *    by the same Lua call that accepts the job's result, so it carries the accepted
 *    value; one hop instead of the parent's move to wait, the steps worker and the
 *    steps queue's events — about 10 ms a step less, bench/cluster/RESULTS.md).
 *    It also hears the parent's completed/failed event on the steps queue's
 *    QueueEvents and settles on whichever comes first: a failure always arrives that
 *    way, and so does the result of a step whose children completed before this
 *    call listened (a re-submitted step). Both listen before the flow is added, so
 *    neither event can be missed once the QueueEvents read their streams.
 *
 * Every job is removed when it completes or fails for good, so Redis holds only the
 * jobs in flight (plus BullMQ's per-queue metadata and a capped event stream).
 * All keys are under `${prefix}:` (BullMQ's key prefix is the root prefix).
 */
export class BullWindowQueue implements WindowQueue {
  readonly stepsQueueName: string;
  readonly windowsQueueName: string;
  private readonly opts: ResolvedBullOptions & Required<Omit<BullWindowQueueOptions, keyof BullQueueOptions>>;
  private readonly connection: Redis;
  private producer: Promise<StepProducer> | undefined;
  private readonly consumers = new Set<Worker>();
  private readonly watchers = new Set<QueueEvents>();
  private readonly pending = new Set<(error: Error) => void>();
  /** The last step this instance added, by `${experiment}:${generation}`. */
  private readonly lastAdded = new Map<string, number>();
  private closed = false;

  /** @param redis a connection from connectRedis(); the queue duplicates it and never closes the caller's. */
  constructor(redis: Redis, opts: BullWindowQueueOptions = {}) {
    const base = resolveBullOptions(opts);
    this.opts = {
      ...base,
      attempts: opts.attempts ?? 3,
      backoffMs: opts.backoffMs ?? 1000,
      lockDurationMs: opts.lockDurationMs ?? 10_000,
      stalledIntervalMs: opts.stalledIntervalMs ?? 5_000,
      maxStalledCount: opts.maxStalledCount ?? 2,
    };
    this.stepsQueueName = `${base.prefix}-steps`;
    this.windowsQueueName = `${base.prefix}-windows`;
    this.connection = bullConnection(redis);
    this.connection.on('error', (error: Error) => this.opts.onError(error));
  }

  async runStep(jobs: WindowJob[], opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<WindowResult[]> {
    const stepId = validateStepJobs(jobs);
    if (this.closed) throw new QueueClosedError('runStep on a closed BullWindowQueue');
    const producer = await this.stepProducer();
    const first = jobs[0];
    const parentId = bullJobId(first.experiment, first.generation, first.step);
    const windows = jobs.map((job) => ({ id: windowJobId(job), bullId: bullJobId(job.experiment, job.generation, job.step, job.firstStream) }));

    let settle: { resolve(v: unknown): void; reject(e: Error): void } | undefined;
    const finished = new Promise<unknown>((resolve, reject) => (settle = { resolve, reject }));
    const onCompleted = ({ returnvalue }: { returnvalue: unknown }): void => settle?.resolve(returnvalue);
    const onFailed = ({ failedReason }: { failedReason: string }): void => settle?.reject(stepFailure(stepId, failedReason, this.opts.attempts));
    const onClose = (error: Error): void => settle?.reject(error);
    let timer: NodeJS.Timeout | undefined;
    const events = producer.events as unknown as EventEmitter; // per-job events are not in BullMQ's typed listener map
    events.on(`completed:${parentId}`, onCompleted);
    events.on(`failed:${parentId}`, onFailed);
    // The fast path (step 4 of the protocol above): every window job's own 'completed'
    // event carries the return value BullMQ accepted; once all are in, the step is done.
    const windowEvents = producer.windowEvents as unknown as EventEmitter;
    const accepted = new Map<number, unknown>();
    const onWindowCompleted = windows.map((w, i) => ({
      name: `completed:${w.bullId}`,
      listener: ({ returnvalue }: { returnvalue: unknown }): void => {
        accepted.set(i, returnvalue);
        if (accepted.size === windows.length) settle?.resolve(windows.map((_, k) => accepted.get(k)));
      },
    }));
    for (const { name, listener } of onWindowCompleted) windowEvents.on(name, listener);
    this.pending.add(onClose);
    const onAbort = (): void => settle?.reject(new StepWithdrawnError(stepId));
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (opts.timeoutMs !== undefined) {
        const timeoutMs = opts.timeoutMs;
        timer = setTimeout(() => settle?.reject(new StepTimeoutError(stepId, timeoutMs)), timeoutMs);
      }
      // Listening first, then adding: the parent's event cannot slip between the two.
      // The existence check costs a round trip before the first job is handed out; it
      // is skipped for the step right after one this instance added in the same
      // generation (nobody else adds a generation's steps: a new coordinator opens a
      // new generation), and made for any other (a resumed or re-submitted step).
      const series = `${first.experiment}:${first.generation}`;
      const fresh = this.lastAdded.get(series) === first.step - 1;
      if (fresh || (await Job.fromId(producer.steps, parentId)) === undefined) {
        this.lastAdded.set(series, first.step);
        const data: StepData = { windows };
        await producer.flows.add({
          name: 'step',
          queueName: this.stepsQueueName,
          data,
          opts: { jobId: parentId, removeOnComplete: true, removeOnFail: true },
          children: jobs.map((job, i) => ({
            name: 'window',
            queueName: this.windowsQueueName,
            data: { ...job },
            opts: {
              jobId: windows[i].bullId,
              attempts: this.opts.attempts,
              backoff: { type: 'exponential', delay: this.opts.backoffMs },
              removeOnComplete: true,
              removeOnFail: true,
              continueParentOnFailure: true,
            },
          })),
        });
      }
      const value = await finished;
      if (!Array.isArray(value) || value.length !== jobs.length) {
        throw new ClusterError(`step ${stepId} returned ${JSON.stringify(value)}, expected ${jobs.length} window results`);
      }
      return value.map((v, i) => parseWindowResult(v, `result of window job ${windows[i].id}`));
    } catch (error) {
      if (error instanceof StepTimeoutError || error instanceof StepWithdrawnError) await this.abandon(producer, parentId);
      throw error;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      events.off(`completed:${parentId}`, onCompleted);
      events.off(`failed:${parentId}`, onFailed);
      for (const { name, listener } of onWindowCompleted) windowEvents.off(name, listener);
      this.pending.delete(onClose);
    }
  }

  async consume(
    workerId: string,
    handler: (job: WindowJob) => Promise<WindowResult>,
    opts: { concurrency?: number } = {},
  ): Promise<() => Promise<void>> {
    if (this.closed) throw new QueueClosedError('consume on a closed BullWindowQueue');
    const worker = new Worker(
      this.windowsQueueName,
      async (job: Job, token?: string) => {
        try {
          // The result is checked here, where a malformed one can be traced to its worker.
          return parseWindowResult(await handler(parseWindowJob(job.data)), `result of ${workerId}'s handler`);
        } catch (e) {
          // Another consumer's job: back to the queue (delayed) without using an attempt.
          if (e instanceof WindowJobElsewhereError && token !== undefined) {
            await job.moveToDelayed(Date.now() + e.retryAfterMs, token);
            throw new DelayedError();
          }
          throw e;
        }
      },
      {
        connection: this.connection,
        prefix: this.opts.prefix,
        name: workerId,
        concurrency: opts.concurrency ?? 1,
        lockDuration: this.opts.lockDurationMs,
        stalledInterval: this.opts.stalledIntervalMs,
        maxStalledCount: this.opts.maxStalledCount,
        // Long-poll for at most 1 s when idle, so stop() and close() return promptly.
        drainDelay: 1,
      },
    );
    worker.on('error', (error: Error) => this.opts.onError(error));
    this.consumers.add(worker);
    await worker.waitUntilReady();
    return async () => {
      this.consumers.delete(worker);
      await worker.close();
    };
  }

  /**
   * Every window job's accepted result, from the windows queue's event stream (the
   * 'completed' event the Lua call that accepts a result writes). Events written
   * before this resolves are not seen; a malformed one is skipped.
   */
  async watchCompleted(handler: (done: CompletedWindow) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new QueueClosedError('watchCompleted on a closed BullWindowQueue');
    const events = new QueueEvents(this.windowsQueueName, { connection: this.connection, prefix: this.opts.prefix });
    events.on('error', (error: Error) => this.opts.onError(error));
    events.on('completed', ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
      const id = parseWindowBullId(jobId);
      if (!id) return;
      let result: WindowResult;
      try {
        result = parseWindowResult(returnvalue, `result of window job ${jobId}`);
      } catch {
        return;
      }
      handler({ ...id, result });
    });
    await events.waitUntilReady();
    this.watchers.add(events);
    return async () => {
      this.watchers.delete(events);
      await events.close();
    };
  }

  /** Closes every consumer, the step machinery and the queue's own connection; pending runStep calls reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const reject of [...this.pending]) reject(new QueueClosedError('BullWindowQueue closed while a step was running'));
    const consumers = [...this.consumers];
    this.consumers.clear();
    await Promise.all(consumers.map((w) => w.close()));
    const watchers = [...this.watchers];
    this.watchers.clear();
    await Promise.all(watchers.map((e) => e.close()));
    const producer = await this.producer?.catch(() => undefined);
    if (producer !== undefined) {
      await producer.worker.close();
      await Promise.all([producer.events.close(), producer.windowEvents.close(), producer.flows.close(), producer.steps.close(), producer.windows.close()]);
    }
    await this.connection.quit().catch(() => this.connection.disconnect());
  }

  /** The coordinator side, opened by the first runStep: flow producer, steps queue, its events and its worker. */
  private stepProducer(): Promise<StepProducer> {
    this.producer ??= (async () => {
      const common = { connection: this.connection, prefix: this.opts.prefix };
      // Both queues' event streams are capped (BullMQ's default keeps 10,000 entries
      // per queue: ~1.2 MB of Redis growth before it levels off, bench/cluster).
      // The cap lives in the queue's meta hash, which a Queue instance writes.
      const steps = new Queue(this.stepsQueueName, { ...common, streams: { events: { maxLen: 1000 } } });
      const windows = new Queue(this.windowsQueueName, { ...common, streams: { events: { maxLen: 1000 } } });
      const flows = new FlowProducer(common);
      const events = new QueueEvents(this.stepsQueueName, common);
      const windowEvents = new QueueEvents(this.windowsQueueName, common);
      const worker = new Worker(this.stepsQueueName, (job: Job) => finishStep(job, `${this.opts.prefix}:${this.windowsQueueName}`), {
        ...common,
        concurrency: 64, // a step job only reads its children's values; many experiments may share the queue
        drainDelay: 1,
      });
      const onError = (error: Error): void => this.opts.onError(error);
      steps.on('error', onError);
      windows.on('error', onError);
      flows.on('error', onError);
      events.on('error', onError);
      windowEvents.on('error', onError);
      worker.on('error', onError);
      events.setMaxListeners(0); // two listeners per step in flight
      windowEvents.setMaxListeners(0); // one listener per window job in flight
      await Promise.all([steps.waitUntilReady(), windows.waitUntilReady(), flows.waitUntilReady(), events.waitUntilReady(), windowEvents.waitUntilReady(), worker.waitUntilReady()]);
      return { steps, windows, flows, events, windowEvents, worker };
    })();
    return this.producer;
  }

  /** After a timeout or a withdrawal: removes the step and its children that have not started (running ones finish and vanish). */
  private async abandon(producer: StepProducer, parentId: string): Promise<void> {
    try {
      // Removing the parent removes its children that are not locked by a worker.
      await (await Job.fromId(producer.steps, parentId))?.remove({ removeChildren: true });
    } catch (error) {
      this.opts.onError(new ClusterError(`could not remove abandoned step ${parentId} (timed out or withdrawn): ${(error as Error).message}`));
    }
  }
}

interface StepProducer {
  steps: Queue;
  windows: Queue;
  flows: FlowProducer;
  events: QueueEvents;
  /** The windows queue's events: each window job's 'completed' (the fast path of runStep). */
  windowEvents: QueueEvents;
  worker: Worker;
}

/**
 * The step (parent) job's processor: the children's results in job order, or, if one
 * failed for good, removal of the children not yet started and a failure naming it.
 */
async function finishStep(job: Job, windowsQueueKey: string): Promise<unknown[]> {
  const data = job.data as StepData;
  const keyOf = (bullId: string): string => `${windowsQueueKey}:${bullId}`;
  const failures = (await job.getIgnoredChildrenFailures()) as Record<string, string>;
  const failed = data.windows.find((w) => failures[keyOf(w.bullId)] !== undefined);
  if (failed !== undefined || Object.keys(failures).length > 0) {
    await job.removeUnprocessedChildren();
    const id = failed?.id ?? Object.keys(failures)[0];
    const reason = failed !== undefined ? failures[keyOf(failed.bullId)] : Object.values(failures)[0];
    throw new Error(WINDOW_FAILURE + JSON.stringify({ id, reason }));
  }
  const values = ((await job.getChildrenValues()) ?? {}) as Record<string, unknown>;
  return data.windows.map((w) => {
    const value = values[keyOf(w.bullId)];
    if (value === undefined) throw new Error(`no result stored for window job ${w.id}`);
    return value;
  });
}

function stepFailure(stepId: string, failedReason: string, attempts: number): Error {
  if (failedReason.startsWith(WINDOW_FAILURE)) {
    try {
      const { id, reason } = JSON.parse(failedReason.slice(WINDOW_FAILURE.length)) as { id: string; reason: string };
      return new WindowJobFailedError(id, attempts, reason);
    } catch {
      // fall through: report the raw reason
    }
  }
  return new ClusterError(`step ${stepId} failed: ${failedReason}`);
}
