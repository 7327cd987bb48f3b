import { QueueClosedError } from '../cluster-errors';
import { ExperimentQueue } from '../interfaces';

export interface InMemoryExperimentQueueOptions {
  /** Told when a handler throws (the id is then dropped, as a failed BullMQ job is). @defaultValue one line to stderr */
  onHandlerError?: (id: string, error: unknown) => void;
}

/**
 * ExperimentQueue inside one process. As in BullExperimentQueue, the experiment id is
 * the job id: submitting an id that is still waiting or running is a no-op.
 */
export class InMemoryExperimentQueue implements ExperimentQueue {
  private readonly waiting: string[] = [];
  private readonly known = new Set<string>();
  private readonly consumers: Array<{ handler: (id: string) => Promise<void>; busy: Promise<void> | undefined }> = [];
  private closed = false;

  constructor(private readonly opts: InMemoryExperimentQueueOptions = {}) {}

  async submit(id: string): Promise<void> {
    if (this.closed) throw new QueueClosedError('submit on a closed InMemoryExperimentQueue');
    if (this.known.has(id)) return;
    this.known.add(id);
    this.waiting.push(id);
    this.dispatch();
  }

  async consume(handler: (id: string) => Promise<void>): Promise<() => Promise<void>> {
    if (this.closed) throw new QueueClosedError('consume on a closed InMemoryExperimentQueue');
    const consumer = { handler, busy: undefined as Promise<void> | undefined };
    this.consumers.push(consumer);
    this.dispatch();
    return async () => {
      const i = this.consumers.indexOf(consumer);
      if (i >= 0) this.consumers.splice(i, 1);
      await consumer.busy;
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const busy = this.consumers.map((c) => c.busy);
    this.consumers.length = 0;
    await Promise.all(busy);
  }

  private dispatch(): void {
    for (const c of this.consumers) {
      if (this.waiting.length === 0) return;
      if (c.busy !== undefined) continue;
      const id = this.waiting.shift() as string;
      c.busy = (async () => {
        try {
          await Promise.resolve();
          await c.handler(id);
        } catch (error) {
          (this.opts.onHandlerError ?? warn)(id, error);
        } finally {
          this.known.delete(id);
          c.busy = undefined;
          this.dispatch();
        }
      })();
    }
  }
}

function warn(id: string, error: unknown): void {
  process.stderr.write(`unroll experiment queue: handler for ${id} threw: ${String(error)}\n`);
}
