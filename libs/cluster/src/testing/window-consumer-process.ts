/**
 * A window-queue consumer in its own process, for fault tests that SIGKILL it.
 * Run with `node --require tsx/cjs` via fork(), with env REDIS_URL (optional),
 * UNROLL_PREFIX, UNROLL_WORKER_ID. Its handler tells the parent (IPC) which job it
 * started and then never finishes, so the job is held until the process dies.
 *
 * With UNROLL_BLOCK_MS=N it is a stalled worker instead: the handler blocks its
 * event loop for N ms (no lock renewal, as a long synchronous compute would), then
 * returns a result naming this worker and tells the parent {finished}.
 */
import { BullWindowQueue } from '../bull-window-queue';
import { connectRedis } from '../redis-connection';

async function main(): Promise<void> {
  const prefix = process.env['UNROLL_PREFIX'] ?? 'unroll';
  const workerId = process.env['UNROLL_WORKER_ID'] ?? `doomed-${process.pid}`;
  const queue = new BullWindowQueue(connectRedis(), { prefix, lockDurationMs: 1000, stalledIntervalMs: 500 });
  const blockMs = process.env['UNROLL_BLOCK_MS'] === undefined ? undefined : Number(process.env['UNROLL_BLOCK_MS']);
  await queue.consume(workerId, async (job) => {
    process.send?.({ started: job.firstStream });
    if (blockMs === undefined) return new Promise(() => undefined);
    const until = Date.now() + blockMs;
    while (Date.now() < until) {
      // busy: the event loop (and the lock renewal timer) waits
    }
    setImmediate(() => process.send?.({ finished: job.firstStream }));
    return { lossSum: 1, count: job.streams, worker: workerId, computeSeconds: blockMs / 1000 };
  });
  process.send?.({ ready: true });
}

main().catch((error: unknown) => {
  process.stderr.write(`window-consumer-process: ${String(error)}\n`);
  process.exit(1);
});
