/**
 * A window-queue consumer in its own process, for fault tests that SIGKILL it.
 * Run with `node --require tsx/cjs` via fork(), with env REDIS_URL (optional),
 * UNROLL_PREFIX, UNROLL_WORKER_ID. Its handler tells the parent (IPC) which job it
 * started and then never finishes, so the job is held until the process dies.
 */
import { BullWindowQueue } from '../bull-window-queue';
import { connectRedis } from '../redis-connection';

async function main(): Promise<void> {
  const prefix = process.env['UNROLL_PREFIX'] ?? 'unroll';
  const workerId = process.env['UNROLL_WORKER_ID'] ?? `doomed-${process.pid}`;
  const queue = new BullWindowQueue(connectRedis(), { prefix, lockDurationMs: 1000, stalledIntervalMs: 500 });
  await queue.consume(workerId, async (job) => {
    process.send?.({ started: job.firstStream });
    return new Promise(() => undefined);
  });
  process.send?.({ ready: true });
}

main().catch((error: unknown) => {
  process.stderr.write(`window-consumer-process: ${String(error)}\n`);
  process.exit(1);
});
