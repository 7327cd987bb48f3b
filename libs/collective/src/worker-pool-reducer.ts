/**
 * Sums in worker threads over shared memory.
 *
 * 1. The received chunk is copied into a free shared slot (a SharedArrayBuffer
 *    sized for one chunk, from a pool that grows on demand).
 * 2. A job {target fusion buffer, element offset, slot, count} is posted to the
 *    next worker, round-robin; SharedArrayBuffers are shared, not copied.
 * 3. The worker adds the slot into the fusion buffer and posts back the job id;
 *    the slot returns to the pool and the promise resolves.
 *
 * Jobs touch disjoint ranges of a fusion buffer (the ring schedule never has two
 * chunks of the same range in flight), so no locking is needed.
 */
import { Worker } from 'node:worker_threads';
import { Deferred } from './deferred';
import { addFloat32, asFloat32, type Reducer } from './reducer';

/** Plain JS so it runs the same under ts-jest, tsx and compiled output. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (job) => {
  const a = new Float32Array(job.target, job.targetByteOffset, job.count);
  const b = new Float32Array(job.slot, 0, job.count);
  for (let i = 0; i < job.count; i++) a[i] += b[i];
  parentPort.postMessage(job.id);
});
`;

interface Job {
  done: Deferred;
  slot: SharedArrayBuffer;
}

export class WorkerPoolReducer implements Reducer {
  readonly wantsSharedTarget = true;
  private readonly workers: Worker[] = [];
  private readonly jobs = new Map<number, Job>();
  private readonly freeSlots: SharedArrayBuffer[] = [];
  private nextJob = 0;
  private nextWorker = 0;
  private failure: Error | undefined;

  /** @param threads worker threads; default 1 (this project's machines have 2 cores, one for the event loop). */
  constructor(threads = 1) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`WorkerPoolReducer threads must be a positive integer, got ${threads}`);
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      worker.on('message', (id: number) => this.finish(id));
      worker.on('error', (error) => this.failAll(error));
      this.workers.push(worker);
    }
  }

  async addInto(target: Float32Array, offset: number, source: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    const count = source.byteLength >>> 2;
    if (count === 0) return;
    if (!(target.buffer instanceof SharedArrayBuffer)) {
      addFloat32(target, offset, asFloat32(source));
      return;
    }
    const slot = this.takeSlot(count * 4);
    new Uint8Array(slot, 0, count * 4).set(source.subarray(0, count * 4));
    const id = this.nextJob++;
    const job: Job = { done: new Deferred(), slot };
    this.jobs.set(id, job);
    const worker = this.workers[this.nextWorker++ % this.workers.length];
    worker.postMessage({ id, target: target.buffer, targetByteOffset: target.byteOffset + offset * 4, slot, count });
    return job.done.promise;
  }

  async close(): Promise<void> {
    this.failAll(new Error('reducer closed'));
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
  }

  private takeSlot(bytes: number): SharedArrayBuffer {
    const index = this.freeSlots.findIndex((s) => s.byteLength >= bytes);
    return index >= 0 ? this.freeSlots.splice(index, 1)[0] : new SharedArrayBuffer(bytes);
  }

  private finish(id: number): void {
    const job = this.jobs.get(id);
    if (!job) return;
    this.jobs.delete(id);
    this.freeSlots.push(job.slot);
    job.done.resolve();
  }

  private failAll(error: Error): void {
    this.failure ??= error;
    for (const job of this.jobs.values()) job.done.reject(error);
    this.jobs.clear();
  }
}
