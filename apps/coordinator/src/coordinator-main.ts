/**
 * The coordinator process: `unroll-coordinator [--redis URL] [--prefix P]
 * [--form-timeout-ms N] [--report-timeout-ms N] [--max-restarts N] [--step-timings]`.
 *
 *   --max-restarts N  new generations opened per experiment run to go on without
 *                    lost workers (while workers.min are left) before it fails
 *                    (default 3; 0: the first lost worker fails the run)
 *
 *   1. connect to Redis (--redis, else REDIS_URL, else 127.0.0.1:6379) and check it;
 *   2. consume submitted experiments, one at a time, each run to its end by the
 *      ExperimentRunner (experiment-runner.ts) from its durable record;
 *   3. on SIGINT/SIGTERM: stop consuming (the experiment in progress stays in the
 *      queue's hands and is resumed by the next coordinator), close, exit 0.
 * Prints one `unroll-coordinator: ready …` line on stderr, then one line per step
 * (loss, norm, workers, phases, wall and overhead). With --step-timings (or
 * UNROLL_STEP_TIMINGS=1 in the environment, which `unroll up` passes to its
 * children) also one machine-readable line per step for the benchmarks:
 *   `unroll-coordinator: <id>: timings {"experiment", "step", ...StepTimings}`
 * (StepTimings, step-driver.ts; NaN prints as null).
 */
import { parseArgs } from 'node:util';
import {
  BullExperimentQueue,
  BullWindowQueue,
  checkRedis,
  connectRedis,
  DEFAULT_PREFIX,
  redactRedisUrl,
  RedisControlBus,
  RedisExperimentStore,
  RedisHiddenStateStore,
  RedisMembershipStore,
} from '@unroll/cluster';
import { ExperimentRunner } from './experiment-runner';
import { MembershipWatcher } from './membership-watcher';

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv.slice(2),
    options: {
      redis: { type: 'string' },
      prefix: { type: 'string' },
      'form-timeout-ms': { type: 'string' },
      'report-timeout-ms': { type: 'string' },
      'max-restarts': { type: 'string' },
      'step-timings': { type: 'boolean' },
    },
  });
  const timingsLines = values['step-timings'] === true || process.env.UNROLL_STEP_TIMINGS === '1';
  const say = (line: string): void => void process.stderr.write(`unroll-coordinator: ${line}\n`);
  const ms = (flag: 'form-timeout-ms' | 'report-timeout-ms'): number | undefined => {
    const v = values[flag];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} expects a positive integer, got ${JSON.stringify(v)}`);
    return n;
  };
  const maxRestarts = values['max-restarts'] === undefined ? undefined : Number(values['max-restarts']);
  if (maxRestarts !== undefined && !(Number.isInteger(maxRestarts) && maxRestarts >= 0)) {
    say(`--max-restarts expects a non-negative integer, got ${JSON.stringify(values['max-restarts'])}`);
    return 2;
  }
  const url = values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = values.prefix ?? process.env.UNROLL_PREFIX ?? DEFAULT_PREFIX;
  const redis = connectRedis(url, { connectionName: 'unroll-coordinator' });
  await checkRedis(redis);

  const bus = new RedisControlBus(redis, { prefix });
  const windows = new BullWindowQueue(redis, { prefix });
  const queue = new BullExperimentQueue(redis, { prefix });
  const runner = new ExperimentRunner(
    {
      experiments: new RedisExperimentStore(redis, { prefix }),
      states: new RedisHiddenStateStore(redis, { prefix }),
      bus,
      windows,
      watcher: new MembershipWatcher(new RedisMembershipStore(redis, { prefix }), { formTimeoutMs: ms('form-timeout-ms') }),
    },
    {
      reportTimeoutMs: ms('report-timeout-ms'),
      maxRestarts,
      log: say,
      onStep: (id, o, total) => {
        say(`${id}: step ${o.step + 1}/${total} loss ${o.loss.toFixed(4)} ‖g‖ ${o.gradNorm.toFixed(4)}${o.skipped ? ' (skipped: not finite)' : ''} jobs ${o.seconds.jobs.toFixed(3)} s on ${[...new Set(o.workers)].join(',')} reduce ${o.seconds.reduce.toFixed(3)} s wall ${o.timings.wallSeconds.toFixed(3)} s overhead ${o.timings.overheadSeconds.toFixed(3)} s`);
        if (timingsLines) say(`${id}: timings ${JSON.stringify({ experiment: id, step: o.step, ...o.timings })}`);
      },
    },
  );

  const stopConsuming = await queue.consume(async (id) => {
    say(`${id}: taken`);
    say(`${id}: ${await runner.run(id)}`);
  });
  say(`ready: redis ${redactRedisUrl(url)} prefix ${prefix}`);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        say(`${signal}, stopping`);
        resolve();
      });
    }
  });
  // Stopping waits for the experiment in progress; a second signal (or SIGKILL) cuts it short.
  await Promise.race([stopConsuming(), new Promise((r) => setTimeout(r, 2000))]);
  await queue.close().catch(() => undefined);
  await windows.close().catch(() => undefined);
  await bus.close().catch(() => undefined);
  redis.disconnect();
  return 0;
}
