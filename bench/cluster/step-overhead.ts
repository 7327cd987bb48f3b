/**
 * Orchestration overhead per distributed step, and tokens/s with 1 and 2 workers.
 *
 *   npx tsx bench/cluster/step-overhead.ts [--steps 40] [--warmup 5] [--micro-batch 8,16] [--rounds 1w,2w,1w] [--speculate on] [--cpu-prof DIR]
 *
 * --node-args 'A|B': node flags of the worker processes, '|'-separated variants run
 * like --speculate (e.g. '|--single-threaded-gc': node's default GC, then
 * single-threaded); each round's line says which. Default: the flags `unroll up`
 * gives its workers (workerNodeFlags: --single-threaded-gc on a host of ≤ 2 cores).
 *
 * --speculate on,off: the workers' --speculate, each value a config run over every
 * round, interleaved (round 1w on, 1w off, 2w on, …): with `on` (the worker's default)
 * a job of step s + 1 starts on the staged update of step s before the commit of s
 * arrives (window-executor.ts), so its compute can overlap step s's commit round
 * trip — the overhead below then counts only what is not hidden (it can be negative
 * for one step; the median is what is compared). Tokens/s says what it is worth.
 *
 * --worker-tree 'A|B': '|'-separated checkouts whose worker runs (empty: this one),
 * variants run like --speculate — an A/B of worker code in one run, e.g.
 * `git worktree add BASE <commit>`, with a node_modules of its own whose entries
 * link to this tree's except `@unroll/*`, which must point into BASE (checked),
 * and the native build linked.
 *
 * --cpu-prof DIR: the workers run under node --cpu-prof (a .cpuprofile per thread in
 * DIR, the compute thread's included); profile the coordinator with
 * `node --cpu-prof --cpu-prof-dir DIR --import tsx bench/cluster/step-overhead.ts …`.
 *
 * The foundation's LSTM step benchmark shapes (bench/step/run.ts): 32 streams,
 * window 35 (= stride), token embedding 128 over 128 tokens, one LSTM layer of 256,
 * 128 classes, cross-entropy on every step, Adam — here as an experiment spec, the
 * 32 streams cut into micro-batches of --micro-batch — each value a config run
 * over every round, labelled in the output: 8 (4 window jobs a step: 2 per worker
 * with 2 workers) and 16 (2 jobs: one per worker) by default — on the wasm backend,
 * the window ops on the native kernel when its addon loads (spec kernel auto). Data: random characters over 127 code points
 * (vocabulary 127 + the replacement token = 128 classes).
 *
 * Workers are real `unroll-worker` processes (--backend wasm, gRPC ring, BullMQ);
 * the coordinator runs in this process (the ExperimentRunner over Redis, as
 * coordinator-main.ts wires it) so that every StepOutcome is seen. Rounds run one
 * after the other in this one invocation: `1w` with worker A alone, `2w` with A and
 * B. Each round starts its workers afresh with the BLAS threads `unroll up` would
 * give them — max(1, floor(usable cores / workers)) (libs/cluster worker-threads.ts;
 * 2 each alone, 1 each as a pair on 2 cores) — and OMP_WAIT_POLICY PASSIVE (the
 * worker's default); each worker's ready line, with its thread count, is printed.
 *
 * Per step (the first --warmup steps of each round are dropped), from the
 * coordinator's StepOutcome.timings (apps/coordinator/src/step-driver.ts, StepTimings):
 *   wall       enqueue of the step's jobs → 'commit' published; since the coordinator
 *              enqueues step s + 1's jobs while step s reduces (e116de8 and before
 *              it 4bb5425), from the later of that enqueue and the previous commit —
 *              so the walls of consecutive steps tile the run;
 *   compute    per member, Σ computeSeconds of the jobs it ran (forward + BPTT of the
 *              window, timed inside the worker); the slowest member's is taken;
 *   reduce     the slowest member's all-reduce call (reduceSeconds);
 *   overhead   overheadSeconds = wall − slowest compute − slowest reduce: queue
 *              hand-out, hidden-state I/O, control messages, staging (applySeconds),
 *              the commit CAS. Target ≤ 5 ms median. "apply" is the members'
 *              applySeconds: since 4a2f429 the divide and norm only — the clip and
 *              the optimizer run after the report, overlapping the commit.
 * Also, measured here: the interval between consecutive onStep callbacks (adds the
 * deletion of old hidden states and the runner's per-step record read), which is what
 * tokens/s is computed from, and the CPU used by the machine and by each process.
 */
import { parseArgs } from 'node:util';
import { usableCores, workerNodeFlags, workerShare } from '@unroll/cluster';
import { BenchCoordinator, cpuMeter, freshPrefix, machine, median, processCpuSeconds, processThreads, quantile, startWorker, workspace, type ObservedStep, type WorkerProcess } from './support';

const STREAMS = 32;
const WINDOW = 35;
const VOCAB = 128;

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '5' },
    'micro-batch': { type: 'string', default: '8,16' },
    rounds: { type: 'string', default: '1w,2w,1w' },
    speculate: { type: 'string', default: 'on' },
    'node-args': { type: 'string', default: workerNodeFlags().join(' ') },
    'worker-tree': { type: 'string', default: '' },
    'cpu-prof': { type: 'string' },
  },
});
const STEPS = Number(values.steps);
const WARMUP = Number(values.warmup);
const MICRO_BATCHES = values['micro-batch'].split(',').map((v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || STREAMS % n !== 0) throw new Error(`--micro-batch expects divisors of ${STREAMS}, got ${v}`);
  return n;
});
const SPECULATE = values.speculate.split(',').map((v) => {
  if (v !== 'on' && v !== 'off') throw new Error(`--speculate expects on and off entries, got ${v}`);
  return v;
});
const WORKER_TREES = values['worker-tree'].split('|');
const NODE_ARGS = values['node-args'].split('|').map((v) => v.split(' ').filter(Boolean));
const ROUNDS = values.rounds.split(',').map((r) => {
  if (r !== '1w' && r !== '2w') throw new Error(`--rounds expects 1w and 2w entries, got ${r}`);
  return r === '1w' ? 1 : 2;
});


function spec(workers: number, steps: number, microBatch: number): string {
  return `apiVersion: unroll/v1
kind: Experiment
metadata: {name: overhead-${workers}w}
spec:
  seed: 1
  backend: wasm
  data: {dataset: text, path: random.txt, validationFraction: 0.05}
  model: {cell: lstm, embedding: 128, hidden: 256, layers: 1}
  tbptt: {streams: ${STREAMS}, window: ${WINDOW}, microBatch: ${microBatch}}
  loss: cross-entropy
  optimizer: {name: adam, lr: 0.001}
  steps: ${steps}
  checkpoint: {every: ${steps}, keep: 1}
  workers: {min: ${workers}, max: ${workers}}
`;
}

/** Random characters over VOCAB − 1 code points, enough for every step without wrapping. */
function corpus(steps: number): string {
  let x = 12345;
  const n = Math.ceil((STREAMS * (steps + 2) * WINDOW + 1) / 0.95);
  const chars: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    chars.push(String.fromCodePoint(0x100 + ((x >>> 8) % (VOCAB - 1))));
  }
  return chars.join('');
}

interface StepRow {
  /** Between consecutive onStep callbacks. */
  interval: number;
  /** StepOutcome.timings. */
  wall: number;
  compute: number;
  reduce: number;
  apply: number;
  queueWait: number;
  overhead: number;
  /** StepOutcome.seconds (the coordinator's phases). */
  jobs: number;
  reducePhase: number;
  commit: number;
  tokens: number;
  /** Per job after a member's first: its start − (previous job's start + compute) on the same member — the handler's and the queue's turnaround. */
  gaps: number[];
  /** jobs phase − (last job's start + compute): the last job's state write, completion and the flow's parent reaching the coordinator. */
  tail: number;
}

function rows(steps: ObservedStep[], startedAt: number): StepRow[] {
  return steps.map((s, i) => {
    const t = s.outcome.timings;
    const perMember = new Map<string, number>();
    for (const j of t.jobs) perMember.set(j.worker, (perMember.get(j.worker) ?? 0) + j.computeSeconds);
    const gaps: number[] = [];
    let lastEnd = 0;
    for (const w of perMember.keys()) {
      const mine = t.jobs.filter((j) => j.worker === w).sort((x, y) => x.startSeconds - y.startSeconds);
      for (let k = 1; k < mine.length; k++) gaps.push(mine[k].startSeconds - mine[k - 1].startSeconds - mine[k - 1].computeSeconds);
      for (const j of mine) lastEnd = Math.max(lastEnd, j.startSeconds + j.computeSeconds);
    }
    return {
      gaps,
      tail: s.outcome.seconds.jobs - lastEnd,
      interval: (s.at - (i === 0 ? startedAt : steps[i - 1].at)) / 1000,
      wall: t.wallSeconds,
      compute: Math.max(...perMember.values()),
      reduce: Math.max(...t.members.map((m) => m.reduceSeconds)),
      apply: Math.max(...t.members.map((m) => m.applySeconds)),
      queueWait: t.queueWaitSeconds,
      overhead: t.overheadSeconds,
      jobs: s.outcome.seconds.jobs,
      reducePhase: s.outcome.seconds.reduce,
      commit: s.outcome.seconds.commit,
      tokens: s.outcome.tokens,
    };
  });
}

const ms = (s: number): string => (s * 1000).toFixed(1);

async function main(): Promise<void> {
  const prefix = freshPrefix('overhead');
  const ws = workspace('overhead', 'random.txt', corpus(STEPS));
  const coordinator = await BenchCoordinator.open(prefix);
  const workers: WorkerProcess[] = [];
  let closed = false;
  const started = new Date().toISOString();
  const lines: string[] = [
    `started ${started}; ${machine()}; ${STEPS} steps per round, first ${WARMUP} dropped; configs: ${MICRO_BATCHES.map((m) => `micro-batches of ${m} (${STREAMS / m} jobs a step)`).join(', ')}; usable cores ${usableCores()}`,
    '',
  ];
  const summary: string[] = [];
  try {
    const options = { prefix, dataRoot: ws.dataRoot, checkpointDir: ws.checkpointDir, backend: 'wasm' };
    const plan = MICRO_BATCHES.flatMap((microBatch) => ROUNDS.flatMap((n) => SPECULATE.flatMap((speculate) => WORKER_TREES.flatMap((workerTree) => NODE_ARGS.map((nodeArgs) => ({ microBatch, n, speculate, workerTree, nodeArgs }))))));
    for (const [round, { microBatch, n, speculate, workerTree, nodeArgs }] of plan.entries()) {
      // Fresh workers for every round, with the BLAS threads unroll up would give n of them.
      for (const w of workers.splice(0)) await w.stop();
      for (const name of ['a', 'b'].slice(0, n)) {
        workers.push(await startWorker({ id: `${prefix}-r${round + 1}${name}`, ...options, threads: workerShare(n), nodeArgs: [...nodeArgs, ...(values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [])], args: ['--speculate', speculate], workerTree: workerTree || undefined }));
      }
      const readyLines = workers.map((w) => /^unroll-worker: ready.*$/m.exec(w.log())?.[0] ?? '(no ready line)');
      const loadBefore = machine();
      const meter = cpuMeter();
      const cpu0 = workers.map((w) => processCpuSeconds(w.child.pid ?? -1));
      const self0 = process.cpuUsage();
      const run = await coordinator.run(`overhead-${n}w-mb${microBatch}`, spec(n, STEPS, microBatch));
      const busy = meter.stop();
      const self = process.cpuUsage(self0);
      const workerCores = workers.map((w, i) => (processCpuSeconds(w.child.pid ?? -1) - cpu0[i]) / run.seconds);
      const selfCores = (self.user + self.system) / 1e6 / run.seconds;
      const ownCores = selfCores + workerCores.reduce((x, y) => x + y, 0);
      const cpuLine = workers
        .map((w, i) => `${w.id.slice(-1)} ${workerCores[i].toFixed(2)} (${processThreads(w.child.pid ?? -1)} threads)`)
        .join(', ');
      const all = rows(run.steps, run.startedAt);
      const timed = all.slice(WARMUP);
      const col = (f: (r: StepRow) => number): number[] => timed.map(f);
      const wallSum = col((r) => r.interval).reduce((x, y) => x + y, 0);
      const tokens = col((r) => r.tokens).reduce((x, y) => x + y, 0);
      const med = (f: (r: StepRow) => number): string => ms(median(col(f)));
      const workersSeen = new Set(run.steps.flatMap((s) => s.results.map((r) => r.worker)));
      const q = (f: (r: StepRow) => number): string => `${med(f)} (p10 ${ms(quantile(col(f), 0.1))}, p90 ${ms(quantile(col(f), 0.9))})`;
      lines.push(`round ${round + 1}: micro-batches of ${microBatch} (${STREAMS / microBatch} jobs a step), ${n} worker${n > 1 ? 's' : ''} (${[...workersSeen].join(', ')}), --speculate ${speculate}${workerTree ? `, worker of ${workerTree}` : ''}${nodeArgs.length ? `, node ${nodeArgs.join(' ')}` : ''}; ${loadBefore} before, ${machine()} after; ${timed.length} timed steps; medians in ms`);
      for (const line of readyLines) lines.push(`- ${line.replace(/, redis .*$/, '')}`);
      lines.push(`- StepOutcome.timings: wall ${q((r) => r.wall)}; slowest member's compute ${med((r) => r.compute)}; slowest reduce ${med((r) => r.reduce)}; apply ${med((r) => r.apply)}; queue wait ${med((r) => r.queueWait)}`);
      lines.push(`- overheadSeconds (wall − max compute − max reduce): ${q((r) => r.overhead)}`);
      lines.push(`- coordinator phases (StepOutcome.seconds): jobs ${med((r) => r.jobs)} (jobs − compute ${med((r) => r.jobs - r.compute)}), reduce phase ${med((r) => r.reducePhase)}, commit ${med((r) => r.commit)}`);
      lines.push(
        `- inside the jobs phase: first job handed out after ${med((r) => r.queueWait)}; between a member's jobs ${ms(median(timed.flatMap((r) => r.gaps)))} per job beyond compute (record read, state read, state write, gradient accumulation, BullMQ completion and next fetch); after the last job's compute ${med((r) => r.tail)} until the coordinator hears the step done`,
      );
      lines.push(`- onStep-to-onStep interval ${q((r) => r.interval)} (adds the deletion of old hidden states and the runner's per-step record read); interval − compute − reduce ${med((r) => r.interval - r.compute - r.reduce)}`);
      lines.push(
        `- CPU over the whole round (${run.seconds.toFixed(1)} s): machine ${busy.toFixed(2)} busy cores of 2; cores used by worker ${cpuLine}; coordinator (this process) ${selfCores.toFixed(2)}; other processes (other engineers' work, Redis) ${(busy - ownCores).toFixed(2)}`,
      );
      lines.push(`- ${tokens} tokens in ${wallSum.toFixed(2)} s: ${(tokens / wallSum).toFixed(0)} tokens/s; last loss ${run.steps[run.steps.length - 1].outcome.loss.toFixed(4)} (ln 128 = ${Math.log(VOCAB).toFixed(4)})`);
      lines.push('');
      summary.push(
        `| ${round + 1} | ${microBatch} | ${n} | ${speculate}${workerTree ? ` (worker of ${workerTree})` : ''}${nodeArgs.length ? ` ${nodeArgs.join(' ')}` : ''} | ${med((r) => r.wall)} | ${med((r) => r.compute)} | ${med((r) => r.reduce)} | ${med((r) => r.overhead)} | ${med((r) => r.interval)} | ${(tokens / wallSum).toFixed(0)} | ${busy.toFixed(2)} | ${(busy - ownCores).toFixed(2)} |`,
      );
    }
    lines.push('| round | micro-batch | workers | speculate | wall ms | slowest member compute ms | slowest reduce ms | overhead ms | step interval ms | tokens/s | busy cores | cores used by others |');
    lines.push('|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    lines.push(...summary);
    for (const w of workers) await w.stop();
    workers.length = 0;
    const deleted = await coordinator.close();
    closed = true;
    lines.push('', `cleanup: ${deleted} keys deleted under ${prefix}:, 0 left; ${machine()} at end`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } catch (e) {
    for (const w of workers) process.stderr.write(`--- ${w.id}\n${w.log().split('\n').slice(-20).join('\n')}\n`);
    throw e;
  } finally {
    for (const w of workers) await w.stop();
    if (!closed) await coordinator.close().catch(() => undefined);
    ws.remove();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
