import { Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { BullQueueOptions, ResolvedBullOptions, bullConnection, resolveBullOptions } from './bull-connection';
import { QueueClosedError } from './cluster-errors';
import { ExperimentQueue } from './interfaces';

export interface BullExperimentQueueOptions extends BullQueueOptions {
  /**
   * Lock on a running experiment, renewed every half while its handler runs. If the
   * coordinator dies, another (or its restart) takes the experiment over after about
   * lockDurationMs + stalledIntervalMs and resumes it from the ExperimentStore.
   * @defaultValue 30000 ms
   */
  lockDurationMs?: number;
  /** @defaultValue 15000 ms */
  stalledIntervalMs?: number;
  /** Coordinator deaths an experiment survives before its job fails. @defaultValue 10 — restarts under Kubernetes are routine */
  maxStalledCount?: number;
  /** Told when a handler throws (the job is then dropped; the handler records failures in the ExperimentStore). @defaultValue stderr */
  onHandlerError?: (id: string, error: unknown) => void;
}

/**
 * ExperimentQueue on BullMQ, queue `${prefix}-experiments` (keys under `${prefix}:`).
 *
 * The job id is `experiment/<URI-encoded id>`, so submitting an experiment that is
 * still waiting or running adds nothing (BullMQ ignores an existing job id) and each
 * id is delivered once. A consumer runs one experiment at a time; jobs are removed
 * when the handler returns or throws, so a finished experiment can be submitted again
 * (to resume it).
 */
export class BullExperimentQueue implements ExperimentQueue {
  readonly queueName: string;
  private readonly opts: ResolvedBullOptions & Required<Omit<BullExperimentQueueOptions, keyof BullQueueOptions>>;
  private readonly connection: Redis;
  private queue: Queue | undefined;
  private readonly consumers = new Set<Worker>();
  private closed = false;

  /** @param redis a connection from connectRedis(); the queue duplicates it and never closes the caller's. */
  constructor(redis: Redis, opts: BullExperimentQueueOptions = {}) {
    const base = resolveBullOptions(opts);
    this.opts = {
      ...base,
      lockDurationMs: opts.lockDurationMs ?? 30_000,
      stalledIntervalMs: opts.stalledIntervalMs ?? 15_000,
      maxStalledCount: opts.maxStalledCount ?? 10,
      onHandlerError:
        opts.onHandlerError ?? ((id, error) => process.stderr.write(`unroll experiment queue: handler for ${id} threw: ${String(error)}\n`)),
    };
    this.queueName = `${base.prefix}-experiments`;
    this.connection = bullConnection(redis);
    this.connection.on('error', (error: Error) => this.opts.onError(error));
  }

  async submit(id: string): Promise<void> {
    if (this.closed) throw new QueueClosedError('submit on a closed BullExperimentQueue');
    if (this.queue === undefined) {
      this.queue = new Queue(this.queueName, { connection: this.connection, prefix: this.opts.prefix });
      this.queue.on('error', (error: Error) => this.opts.onError(error));
    }
    await this.queue.add('experiment', { id }, { jobId: `experiment/${encodeURIComponent(id)}`, removeOnComplete: true, removeOnFail: true });
  }

  async consume(handler: (id: string) => Promise<void>): Promise<() => Promise<void>> {
    if (this.closed) throw new QueueClosedError('consume on a closed BullExperimentQueue');
    const worker = new Worker(
      this.queueName,
      async (job: Job) => {
        const id = (job.data as { id?: unknown }).id;
        if (typeof id !== 'string') throw new TypeError(`experiment job ${job.id} has no id: ${JSON.stringify(job.data)}`);
        try {
          await handler(id);
        } catch (error) {
          this.opts.onHandlerError(id, error);
          throw error;
        }
      },
      {
        connection: this.connection,
        prefix: this.opts.prefix,
        concurrency: 1,
        lockDuration: this.opts.lockDurationMs,
        stalledInterval: this.opts.stalledIntervalMs,
        maxStalledCount: this.opts.maxStalledCount,
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

  /** Closes the consumers (after their running handler returns), the queue and the queue's own connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const consumers = [...this.consumers];
    this.consumers.clear();
    await Promise.all(consumers.map((w) => w.close()));
    await this.queue?.close();
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}
