/**
 * `unroll submit <spec.yaml> [--follow] [--json] [--redis URL] [--prefix P]`:
 * hands an experiment to the cluster that `unroll up` (or Kubernetes) runs.
 *
 *   1. validate the spec — a bad one exits 2 naming the field, and nothing is
 *      created or enqueued;
 *   2. create the experiment record (status queued, step 0) and queue its id for a
 *      coordinator; print the id;
 *   3. with --follow: print progress (step/total, loss, tokens/s over the last 20
 *      steps, ETA) from the experiment's control channel — the loss and token count
 *      of a step arrive with its 'reduce', the step is done at its 'commit' — as
 *      `unroll train` does (in place on a terminal; on a pipe every 5 s and the last
 *      step), until the record says it ended: exit 0 on success, 1 otherwise.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BullExperimentQueue, checkRedis, connectRedis, DEFAULT_PREFIX, RedisControlBus, RedisExperimentStore, type ControlMessage, type ExperimentRecord } from '@unroll/cluster';
import { parseSpec } from '@unroll/spec';
import { EXIT_FAILURE, EXIT_OK } from '../errors';
import { formatDuration, LivePrinter } from '../progress';

export interface SubmitFlags {
  follow?: boolean;
  json?: boolean;
  redis?: string;
  prefix?: string;
}

/** How often --follow reads the record for the end of the run. */
const FOLLOW_POLL_MS = 500;
/** --follow's tokens/s is over the last this many committed steps. */
const RATE_WINDOW = 20;
/** On a pipe, --follow prints a progress line this often (and the last step's). */
const PIPE_EVERY_MS = 5000;

export async function submitCommand(specFile: string, flags: SubmitFlags): Promise<number> {
  const specYaml = readFileSync(specFile, 'utf8');
  const spec = parseSpec(specYaml, specFile);
  const id = `${spec.metadata.name}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const url = flags.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = flags.prefix ?? process.env.UNROLL_PREFIX ?? DEFAULT_PREFIX;
  const redis = connectRedis(url, { connectionName: 'unroll-submit' });
  const bus = new RedisControlBus(redis, { prefix });
  const queue = new BullExperimentQueue(redis, { prefix });
  try {
    await checkRedis(redis);
    const experiments = new RedisExperimentStore(redis, { prefix });
    const total = spec.spec.steps;
    const losses = new Map<number, number>();
    const tokens = new Map<number, number>();
    // Commits seen (time, step), for tokens/s over the last RATE_WINDOW of them.
    const commits: Array<{ t: number; step: number }> = [];
    const say = (line: string): void => void process.stderr.write(`${line}\n`);
    // As unroll train's progress: rewritten in place on a terminal; on a pipe, a line every few seconds and the last step's.
    const printer = new LivePrinter({ write: (t) => process.stderr.write(t), isTTY: process.stderr.isTTY }, PIPE_EVERY_MS);
    const onMessage = (m: ControlMessage): void => {
      if (m.type === 'reduce' && m.barrier !== true) {
        tokens.set(m.step, m.count);
        if (m.count > 0) losses.set(m.step, m.lossSum / m.count);
      }
      if (m.type === 'commit' && !flags.json) {
        if (commits.some((c) => c.step === m.step)) return; // a resent commit
        commits.push({ t: performance.now(), step: m.step });
        if (commits.length > RATE_WINDOW + 1) commits.shift();
        const loss = losses.get(m.step);
        const first = commits[0];
        let counted = 0;
        for (const c of commits.slice(1)) counted += tokens.get(c.step) ?? 0;
        const seconds = (performance.now() - first.t) / 1000;
        // Over the last commits: tokens/s, and the time a step takes for the ETA.
        const pace = commits.length > 1 ? `  ${Math.round(counted / seconds).toLocaleString('en-US')} tok/s  ETA ${formatDuration(((total - m.step - 1) * seconds) / (commits.length - 1))}` : '';
        printer.show(`step ${m.step + 1}/${total}${loss !== undefined ? `  loss ${loss.toFixed(4)}  bpc ${(loss / Math.LN2).toFixed(3)}` : ''}${pace}`, m.step + 1 === total);
      }
    };
    if (flags.follow) await bus.subscribe(id, onMessage);

    await experiments.create({ id, specYaml, status: 'queued', step: 0, generation: 0, members: [] });
    await queue.submit(id);
    if (flags.json && !flags.follow) process.stdout.write(`${JSON.stringify({ id, status: 'queued' })}\n`);
    else if (!flags.json) process.stdout.write(`${id}\n`);
    if (!flags.follow) return EXIT_OK;

    let record: ExperimentRecord | undefined;
    for (;;) {
      record = await experiments.get(id);
      if (record && record.status !== 'queued' && record.status !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
    }
    printer.end();
    const lastLoss = losses.get(record.step - 1);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ id, status: record.status, step: record.step, steps: total, loss: lastLoss ?? null, error: record.error ?? null })}\n`);
    } else {
      say(record.status === 'succeeded' ? `${id}: succeeded after ${record.step} steps` : `${id}: ${record.status} at step ${record.step}${record.error ? `: ${record.error}` : ''}`);
    }
    return record.status === 'succeeded' ? EXIT_OK : EXIT_FAILURE;
  } finally {
    await bus.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}
