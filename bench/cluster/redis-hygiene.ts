/**
 * Redis hygiene over a long run: does Redis memory stay flat, and are finished
 * BullMQ jobs and the hidden states of committed steps gone?
 *
 *   npx tsx bench/cluster/redis-hygiene.ts [--steps 1000] [--every 50] [--warmup 200]
 *
 * A tiny LSTM (the distributed tests' shape: 6 streams, window 6, stride 4,
 * micro-batches of 2 → 3 window jobs a step; 2 layers of 12, cpu backend) trained
 * for --steps steps by 2 real `unroll-worker` processes and a coordinator in this
 * process, on the Redis at REDIS_URL (default 127.0.0.1:6379) under a fresh prefix.
 * The corpus is short enough that the run crosses several epochs.
 *
 * Every --every steps, just before the step's jobs are enqueued (the previous step
 * committed, its old hidden states deleted), it samples:
 *   - INFO memory used_memory (the whole server: other users of this Redis add noise);
 *   - the keys under the prefix (SCAN), by kind, and the sum of MEMORY USAGE over them
 *     (this run's own bytes, exact);
 *   - the hidden-state keys of steps before the current one (must be 0), and the
 *     BullMQ job hashes (must be 0 between steps: jobs are removed when finished).
 * Then least-squares slopes after --warmup steps. The prefix is deleted at the end.
 */
import { parseArgs } from 'node:util';
import { deleteKeys } from '@unroll/cluster/testing';
import { workerShare } from '@unroll/cluster';
import { BenchCoordinator, cpuMeter, fitLine, freshPrefix, machine, processCpuSeconds, startWorker, workspace, type WorkerProcess } from './support';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '1000' }, every: { type: 'string', default: '50' }, warmup: { type: 'string', default: '200' } } });
const STEPS = Number(values.steps);
const EVERY = Number(values.every);
const WARMUP = Number(values.warmup);

function spec(steps: number): string {
  return `apiVersion: unroll/v1
kind: Experiment
metadata: {name: hygiene}
spec:
  seed: 5
  backend: cpu
  data: {dataset: text, path: corpus.txt, validationFraction: 0.1}
  model: {cell: lstm, embedding: 8, hidden: 12, layers: 2}
  tbptt: {streams: 6, window: 6, stride: 4, microBatch: 2}
  loss: cross-entropy
  optimizer: {name: adam, lr: 0.01}
  clipNorm: 1.0
  steps: ${steps}
  checkpoint: {every: 250, keep: 2}
  workers: {min: 2, max: 2}
`;
}

const corpus = Array.from({ length: 160 }, (_, i) => `line ${i % 7}: the quick brown fox ${i % 3 ? 'jumps' : 'naps'} over ${i % 5} dogs.\n`).join('');

/** `P:exp:E:h:1:2:37` → `P:exp:E:h:#:#:#`; BullMQ `P:P-windows:E/0/37/2` → `P:P-windows:<job>`. */
function kind(key: string, prefix: string, experiment: string): string {
  let k = key.split(prefix).join('P').split(experiment).join('E');
  k = k.replace(/^P:P-(windows|steps):E[^:]*/, 'P:P-$1:<job>');
  return k.replace(/\d+/g, '#');
}

interface Sample {
  step: number;
  seconds: number;
  usedMemory: number;
  keys: number;
  prefixBytes: number;
  staleStates: number;
  jobHashes: number;
  eventStreamEntries: number;
  /** XLEN of each BullMQ event stream (windows, steps). */
  streams: string;
  kinds: Map<string, number>;
}

async function main(): Promise<void> {
  const prefix = freshPrefix('hygiene');
  const ws = workspace('hygiene', 'corpus.txt', corpus);
  const coordinator = await BenchCoordinator.open(prefix);
  const redis = coordinator.redis;
  const workers: WorkerProcess[] = [];
  const samples: Sample[] = [];
  let t0 = 0;

  const sample = async (step: number): Promise<void> => {
    const info = await redis.info('memory');
    const usedMemory = Number(/used_memory:(\d+)/.exec(info)?.[1]);
    const keys = await coordinator.keys();
    const pipeline = redis.pipeline();
    for (const k of keys) pipeline.memory('USAGE', k, 'SAMPLES', 0);
    const usage = (await pipeline.exec()) ?? [];
    const prefixBytes = usage.reduce((a, [, v]) => a + (typeof v === 'number' ? v : 0), 0);
    const kinds = new Map<string, number>();
    let staleStates = 0;
    let jobHashes = 0;
    let eventStreamEntries = 0;
    const streams: string[] = [];
    for (const k of keys) {
      const kd = kind(k, prefix, coordinator.current);
      kinds.set(kd, (kinds.get(kd) ?? 0) + 1);
      const h = /:h:\d+:\d+:(\d+)$/.exec(k);
      if (h && Number(h[1]) < step) staleStates++;
      if (/^P:P-(windows|steps):<job>/.test(kd)) jobHashes++;
      if (kd.endsWith(':events')) {
        const n = await redis.xlen(k);
        eventStreamEntries += n;
        streams.push(`${/-(windows|steps):events$/.exec(k)?.[1] ?? k} ${n}`);
      }
    }
    samples.push({ step, seconds: (performance.now() - t0) / 1000, usedMemory, keys: keys.length, prefixBytes, staleStates, jobHashes, eventStreamEntries, streams: streams.sort().join(', '), kinds });
    process.stderr.write(`step ${step}: used_memory ${usedMemory}, ${keys.length} keys, ${prefixBytes} B under prefix, events ${eventStreamEntries}\n`);
  };

  let closed = false;
  const started = new Date().toISOString();
  const before = machine();
  try {
    for (const id of ['w0', 'w1']) workers.push(await startWorker({ id: `${prefix}-${id}`, prefix, dataRoot: ws.dataRoot, checkpointDir: ws.checkpointDir, backend: 'cpu', threads: workerShare(2) }));
    coordinator.windows.beforeStep = async (step) => {
      if (step % EVERY === 0) await sample(step);
    };
    t0 = performance.now();
    const meter = cpuMeter();
    const cpu0 = workers.map((w) => processCpuSeconds(w.child.pid ?? -1)).reduce((x, y) => x + y, 0);
    const self0 = process.cpuUsage();
    const run = await coordinator.run('hygiene', spec(STEPS));
    await sample(STEPS); // after the closing barrier and deleteAll of the hidden states
    const after = machine();
    const busy = meter.stop();
    const self = process.cpuUsage(self0);
    const own = (workers.map((w) => processCpuSeconds(w.child.pid ?? -1)).reduce((x, y) => x + y, 0) - cpu0 + (self.user + self.system) / 1e6) / run.seconds;

    // Report.
    const lines: string[] = [];
    lines.push(`started ${started}; ${before} at start, ${after} at end; ${STEPS} steps in ${run.seconds.toFixed(1)} s (${((run.seconds / STEPS) * 1000).toFixed(1)} ms/step); machine ${busy.toFixed(2)} busy cores of 2, of which this run's processes ${own.toFixed(2)}`);
    lines.push('');
    lines.push('| step | t (s) | used_memory (B) | keys under prefix | MEMORY USAGE under prefix (B) | BullMQ event-stream entries | job hashes | states of steps < s |');
    lines.push('|---:|---:|---:|---:|---:|---|---:|---:|');
    for (const s of samples) lines.push(`| ${s.step} | ${s.seconds.toFixed(1)} | ${s.usedMemory} | ${s.keys} | ${s.prefixBytes} | ${s.streams} | ${s.jobHashes} | ${s.staleStates} |`);
    const fitFrom = (from: number, what: string): void => {
      const fit = samples.filter((s) => s.step >= from && s.step < STEPS);
      if (fit.length < 3) {
        lines.push('', `${what}: fewer than 3 samples from step ${from}; no fit`);
        return;
      }
      const x = fit.map((s) => s.step);
      const resid = (ys: number[]): string => {
        const { slope, intercept } = fitLine(x, ys);
        const r = ys.map((y, i) => y - (slope * x[i] + intercept));
        const sd = Math.sqrt(r.reduce((a, b) => a + b * b, 0) / Math.max(1, r.length - 2));
        return `slope ${slope.toFixed(1)} B/step (${((slope * 1000) / 1024).toFixed(1)} KiB per 1000 steps), residual sd ${(sd / 1024).toFixed(1)} KiB, range ${Math.min(...ys)}..${Math.max(...ys)}`;
      };
      const keyFit = fitLine(x, fit.map((s) => s.keys));
      lines.push('', `${what}, steps ${from}..${fit[fit.length - 1].step} (${fit.length} samples):`);
      lines.push(`- used_memory: ${resid(fit.map((s) => s.usedMemory))}`);
      lines.push(`- MEMORY USAGE under prefix: ${resid(fit.map((s) => s.prefixBytes))}`);
      lines.push(`- keys under prefix: slope ${keyFit.slope.toFixed(4)} keys/step, range ${Math.min(...fit.map((s) => s.keys))}..${Math.max(...fit.map((s) => s.keys))}`);
    };
    fitFrom(WARMUP, `fit after the --warmup`);
    // BullMQ trims each queue's event stream to about 10,000 entries (its default maxLenEvents): memory grows until then.
    const finalEvents = samples[samples.length - 1].eventStreamEntries;
    const capped = samples.find((s) => s.eventStreamEntries >= 0.98 * finalEvents && s.step > 0);
    if (capped) fitFrom(capped.step, 'fit once the event streams stopped growing');
    lines.push('', `- job hashes between steps: max ${Math.max(...samples.map((s) => s.jobHashes))}; hidden states of steps before the current one: max ${Math.max(...samples.map((s) => s.staleStates))}`);
    const caps: string[] = [];
    for (const q of ['windows', 'steps']) caps.push(`${q} ${(await redis.hget(`${prefix}:${prefix}-${q}:meta`, 'opts.maxLenEvents')) ?? '(unset)'}`);
    lines.push(`- BullMQ event-stream caps (meta opts.maxLenEvents): ${caps.join(', ')}; trimming is approximate (XADD MAXLEN ~)`);
    const lastRunning = samples[samples.length - 2];
    const last = samples[samples.length - 1];
    lines.push('');
    lines.push(`keys by kind at step ${lastRunning.step} (running) and after the run (${last.step}):`);
    const allKinds = [...new Set([...lastRunning.kinds.keys(), ...last.kinds.keys()])].sort();
    for (const k of allKinds) lines.push(`- \`${k}\`: ${lastRunning.kinds.get(k) ?? 0} / ${last.kinds.get(k) ?? 0}`);
    for (const w of workers) await w.stop();
    workers.length = 0;
    // Workers deregistered; delete everything under the prefix.
    const deleted = await coordinator.close();
    closed = true;
    lines.push('');
    lines.push(`cleanup: workers stopped, ${deleted} keys deleted under ${prefix}:, 0 left`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } catch (e) {
    for (const w of workers) process.stderr.write(`--- ${w.id}\n${w.log().split('\n').slice(-20).join('\n')}\n`);
    throw e;
  } finally {
    for (const w of workers) await w.stop();
    if (!closed) {
      await deleteKeys(redis, await coordinator.keys()).catch(() => undefined);
      await redis.quit().catch(() => undefined);
    }
    ws.remove();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
