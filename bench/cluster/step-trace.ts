/**
 * Where a distributed step's time goes, event by event, from the traces the
 * coordinator, the workers and their compute threads write when UNROLL_TRACE_DIR is
 * set (libs/cluster step-trace.ts):
 *
 *   UNROLL_TRACE_DIR=/tmp/trace npx tsx bench/cluster/step-overhead.ts --micro-batch 16 --rounds 2w
 *   npx tsx bench/cluster/step-trace.ts /tmp/trace [--from 5]
 *
 * For every step s (of the newest generation in the trace), times are taken relative
 * to the step's start — the later of its enqueue and the commit of step s − 1
 * published — and the median over the steps from --from on is printed per process
 * and event, in time order: what happened when, and the gaps between. With several
 * window jobs a member, each job's events are listed by its first stream.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { from: { type: 'string', default: '5' } } });
const dir = positionals[0];
if (!dir) throw new Error('usage: step-trace.ts <trace dir> [--from N]');
const FROM = Number(values.from);

interface Event {
  t: number;
  who: string;
  ev: string;
  g?: number;
  s?: number;
  first?: number;
  [k: string]: unknown;
}

const events: Event[] = [];
for (const f of readdirSync(dir).filter((n) => n.endsWith('.jsonl'))) {
  for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) if (line) events.push(JSON.parse(line) as Event);
}
if (events.length === 0) throw new Error(`no events in ${dir}`);
const generation = Math.max(...events.filter((e) => e.g !== undefined).map((e) => e.g as number));
// The compute thread's events carry the step as s and no generation.
const inRun = events.filter((e) => e.g === generation || (e.g === undefined && e.s !== undefined));

const coordinator = inRun.filter((e) => e.ev === 'commit.pub' || e.ev === 'enqueue');
const commitAt = new Map<number, number>();
const enqueueAt = new Map<number, number>();
for (const e of coordinator) (e.ev === 'commit.pub' ? commitAt : enqueueAt).set(e.s as number, e.t);
const steps = [...commitAt.keys()].filter((s) => s >= FROM && enqueueAt.has(s)).sort((a, b) => a - b);
if (steps.length === 0) throw new Error(`no committed steps from ${FROM} on in generation ${generation}`);
const startOf = (s: number): number => Math.max(enqueueAt.get(s) as number, commitAt.get(s - 1) ?? -Infinity);

const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

// Per (process, event, first stream): offsets from the step's start, one per step.
const rows = new Map<string, { who: string; label: string; offsets: number[] }>();
for (const e of inRun) {
  const s = e.s as number;
  if (!steps.includes(s)) continue;
  const label = e.first !== undefined ? `${e.ev} [${e.first}]` : e.ev;
  const key = `${e.who}\u0000${label}`;
  let row = rows.get(key);
  if (!row) rows.set(key, (row = { who: e.who, label, offsets: [] }));
  row.offsets.push(e.t - startOf(s));
}
const wall = median(steps.map((s) => (commitAt.get(s) as number) - startOf(s)));
console.log(`${dir}: generation ${generation}, steps ${steps[0]}–${steps[steps.length - 1]} (${steps.length}); median wall (start → commit published) ${wall.toFixed(1)} ms`);
console.log('median ms from the step start (later of enqueue and previous commit published); events of step s');
const sorted = [...rows.values()].map((r) => ({ ...r, at: median(r.offsets) })).sort((a, b) => a.at - b.at);
const whoWidth = Math.max(...sorted.map((r) => r.who.length));
for (const r of sorted) console.log(`${r.at.toFixed(2).padStart(9)}  ${r.who.padEnd(whoWidth)}  ${r.label}${r.offsets.length !== steps.length ? `  (${r.offsets.length} of ${steps.length} steps)` : ''}`);

// Intervals per step (median over the steps), per member: each is one hop of the step.
const at = (who: string, ev: string, s: number, first?: number): number | undefined => {
  let best: number | undefined;
  for (const e of inRun) if (e.who === who && e.ev === ev && e.s === s && (first === undefined || e.first === first)) best = best === undefined ? e.t : Math.max(best, e.t);
  return best;
};
const members = [...new Set(inRun.filter((e) => e.ev === 'reduce.start').map((e) => e.who))].sort();
const coord = inRun.find((e) => e.ev === 'commit.pub')?.who as string;
console.log('\nintervals, median ms over the steps (per member; "last" = the member\'s last job of the step)');
type Hop = [string, (m: string, s: number) => number | undefined];
const lastJob = (m: string, s: number): number | undefined => {
  const firsts = inRun.filter((e) => e.who === m && e.ev === 'job.return' && e.s === s).sort((a, b) => b.t - a.t);
  return firsts[0]?.first;
};
const diff = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : a - b);
const hops: Hop[] = [
  ['commit s−1 published → received', (m, s) => diff(at(m, 'commit.recv', s - 1), commitAt.get(s - 1))],
  ['commit received → first job compute', (m, s) => diff(at(m, 'job.compute', s, inRun.filter((e) => e.who === m && e.ev === 'job.compute' && e.s === s).sort((a, b) => a.t - b.t)[0]?.first), at(m, 'commit.recv', s - 1))],
  ['job compute → thread received (last)', (m, s) => diff(at(`${m}-compute`, 'th.recv', s, lastJob(m, s)), at(m, 'job.compute', s, lastJob(m, s)))],
  ['thread received → done (last)', (m, s) => diff(at(`${m}-compute`, 'th.done', s, lastJob(m, s)), at(`${m}-compute`, 'th.recv', s, lastJob(m, s)))],
  ['thread done → job computed (last)', (m, s) => diff(at(m, 'job.computed', s, lastJob(m, s)), at(`${m}-compute`, 'th.done', s, lastJob(m, s)))],
  ['job computed → returned (last)', (m, s) => diff(at(m, 'job.return', s, lastJob(m, s)), at(m, 'job.computed', s, lastJob(m, s)))],
  ['own last job returned → seen', (m, s) => diff(at(m, 'job.seen', s, lastJob(m, s)), at(m, 'job.return', s, lastJob(m, s)))],
  ['last job of the step seen → reduce start', (m, s) => diff(at(m, 'reduce.start', s), Math.max(...inRun.filter((e) => e.who === m && e.ev === 'job.seen' && e.s === s).map((e) => e.t)))],
  ['reduce start → all-reduce start', (m, s) => diff(at(m, 'ar.start', s), at(m, 'reduce.start', s))],
  ['all-reduce', (m, s) => diff(at(m, 'ar.end', s), at(m, 'ar.start', s))],
  ['all-reduce end → report published', (m, s) => diff(at(m, 'report', s), at(m, 'ar.end', s))],
  ['report → staged (optimizer)', (m, s) => diff(at(m, 'staged', s), at(m, 'report', s))],
  ['report → coordinator has all reports', (m, s) => diff(at(coord, 'reports.in', s), at(m, 'report', s))],
];
for (const [label, f] of hops) {
  const cells = members.map((m) => {
    const xs = steps.map((s) => f(m, s)).filter((x): x is number => x !== undefined && Number.isFinite(x));
    return xs.length ? median(xs).toFixed(2).padStart(8) : '       –';
  });
  console.log(`${label.padEnd(44)} ${cells.join(' ')}`);
}
const coordHops: Array<[string, string, string]> = [
  ['all reports in → commit CAS done', 'cas', 'reports.in'],
  ['commit CAS done → commit published', 'commit.pub', 'cas'],
];
for (const [label, b, a] of coordHops) console.log(`${label.padEnd(44)} ${median(steps.map((s) => (at(coord, b, s) as number) - (at(coord, a, s) as number))).toFixed(2).padStart(8)}`);
console.log(`members: ${members.join(', ')}`);

// Garbage collection per process: events 'gc' (kind, ms) in the timed steps' span.
const span = [startOf(steps[0]), commitAt.get(steps[steps.length - 1]) as number];
const gcs = events.filter((e) => e.ev === 'gc' && e.t >= span[0] && e.t <= span[1]);
if (gcs.length > 0) {
  console.log('\ngarbage collection during the timed steps, per step (count and ms by kind)');
  for (const who of [...new Set(gcs.map((e) => e.who))].sort()) {
    const byKind = new Map<string, { n: number; ms: number }>();
    for (const e of gcs.filter((x) => x.who === who)) {
      const k = byKind.get(e.kind as string) ?? { n: 0, ms: 0 };
      k.n++;
      k.ms += e.ms as number;
      byKind.set(e.kind as string, k);
    }
    console.log(`  ${who.padEnd(whoWidth)}  ${[...byKind].map(([k, v]) => `${k} ${(v.n / steps.length).toFixed(2)} × → ${(v.ms / steps.length).toFixed(2)} ms`).join(', ')}`);
  }
}
