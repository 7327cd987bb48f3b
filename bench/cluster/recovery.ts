/**
 * How long a cluster run takes to recover from a worker killed mid-run: with the
 * ring peers' probe (a neighbour whose streams to the dead worker fail finds its
 * ring port refusing connections and withdraws its registration —
 * apps/worker ring-collectives.ts) against the baseline without it (workers started
 * with UNROLL_PEER_PROBE=off: the coordinator learns of the loss when the dead
 * worker's heartbeat key expires, TTL 10 s, renewed every 3.3 s).
 *
 *   npx tsx bench/cluster/recovery.ts [--pairs 4] [--workers 3]
 *
 * Each round: `unroll up --workers N` (real processes, the machine's Redis, a fresh
 * key prefix), a long run of a tiny spec (workers.min 2) submitted to it, one worker
 * SIGKILLed once the run is past step 5 — after a random 0–300 ms more, so that the
 * kill lands in any phase of a step (window jobs or reduction) — and the time from
 * the kill to the coordinator's "recovered" line (a new generation of the
 * survivors opened). Rounds alternate probe on / off in one invocation.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { deleteKeys, freshPrefix, REDIS_URL, runUnroll, startUp } from '../../tests/distributed/support/processes';
import { tinySpec, tinyWorkspace } from '../../tests/distributed/support/tiny-experiment';
import { machine, median } from './support';

const { values } = parseArgs({ options: { pairs: { type: 'string', default: '4' }, workers: { type: 'string', default: '3' } } });
const PAIRS = Number(values.pairs);
const WORKERS = Number(values.workers);
if (!(PAIRS >= 1) || !(WORKERS >= 3)) throw new Error('--pairs ≥ 1, --workers ≥ 3 (2 must survive: workers.min is 2)');

interface Round {
  probe: 'on' | 'off';
  seconds: number;
  /** How the coordinator heard: the "lost …" line's reason. */
  during: string;
  /** Whether a survivor logged the withdrawal. */
  withdrawn: boolean;
}

async function waitFor(log: () => string, pattern: RegExp, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!pattern.test(log())) {
    if (Date.now() - started > timeoutMs) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${log().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now();
}

async function round(probe: 'on' | 'off', dir: string, dataRoot: string): Promise<Round> {
  const prefix = freshPrefix(`recovery-${probe}`);
  const spec = path.join(dir, `recovery-${probe}.yaml`);
  writeFileSync(spec, tinySpec({ name: 'recovery', workers: WORKERS, minWorkers: 2, steps: 100_000, every: 100_000, hidden: 16, layers: 1 }));
  const up = startUp(['--workers', String(WORKERS), '--redis', REDIS_URL, '--prefix', prefix, '--data-root', dataRoot, '--checkpoint-dir', path.join(dir, 'ckpt'), '--backend', 'cpu'], { ...process.env, UNROLL_PEER_PROBE: probe });
  try {
    const pids = await up.ready;
    const submitted = await runUnroll(['submit', spec, '--redis', REDIS_URL, '--prefix', prefix]);
    if (submitted.code !== 0) throw new Error(`submit failed: ${submitted.stderr}`);
    await waitFor(up.log, /step (5|6|7|8|9)\/100000\b/, 120_000);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 300));
    const victim = pids[pids.length - 1];
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    const recoveredAt = await waitFor(up.log, /recovered \(1 of \d+ restarts\)/, 60_000);
    const log = up.log();
    const during = / \(worker \S+ left the cluster \(registration expired or withdrawn\) during the (window jobs|reduction)/.exec(log)?.[1] ?? (/lost \S+ \(step \d+ of \S+ failed: /.test(log) ? 'a failed report' : '?');
    return { probe, seconds: (recoveredAt - killedAt) / 1000, during, withdrawn: /registration withdrawn/.test(log) };
  } finally {
    await up.stop();
    await deleteKeys(prefix);
  }
}

async function main(): Promise<void> {
  const { dir, dataRoot } = tinyWorkspace('unroll-bench-recovery-');
  const started = new Date();
  const rounds: Round[] = [];
  try {
    for (let i = 0; i < PAIRS; i++) {
      for (const probe of i % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
        const r = await round(probe, dir, dataRoot);
        rounds.push(r);
        process.stdout.write(`round ${rounds.length}: probe ${r.probe}: recovered ${r.seconds.toFixed(2)} s after the kill (heard during ${r.during}${r.withdrawn ? '; a survivor withdrew its registration' : ''})\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const on = rounds.filter((r) => r.probe === 'on').map((r) => r.seconds);
  const off = rounds.filter((r) => r.probe === 'off').map((r) => r.seconds);
  process.stdout.write(
    [
      '',
      `npx tsx bench/cluster/recovery.ts --pairs ${PAIRS} --workers ${WORKERS}; started ${started.toISOString()}; ${machine()}`,
      '',
      '| peer probe | rounds | recovery s, median | min | max |',
      '|---|---:|---:|---:|---:|',
      `| on | ${on.length} | ${median(on).toFixed(2)} | ${Math.min(...on).toFixed(2)} | ${Math.max(...on).toFixed(2)} |`,
      `| off (heartbeat only) | ${off.length} | ${median(off).toFixed(2)} | ${Math.min(...off).toFixed(2)} | ${Math.max(...off).toFixed(2)} |`,
      '',
      `off / on (medians): ${(median(off) / median(on)).toFixed(1)}×`,
      '',
    ].join('\n'),
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
