/**
 * All-reduce benchmark (not a test): `npx tsx bench/allreduce/run.ts`.
 *
 * For every group size N ∈ {2, 3, 4} and payload S ∈ {4, 16, 64} MB, starts N
 * fresh node processes per transport on loopback and times one all-reduce of a
 * single S-byte float32 buffer:
 *   grpc-ring  GrpcRingCollective (the product)
 *   tcp-ring   the same ring engine over raw TCP frames (transport bound)
 *   grpc-ps    parameter server over gRPC (gather to rank 0, sum, broadcast)
 * An iteration's time is the slowest member's; the median over the timed
 * iterations is reported, with algorithm bandwidth S / time (as nccl-tests'
 * algbw). Results go to bench/allreduce/RESULTS.md.
 *
 * Then the gRPC ring at 16 MB with the inline and the worker-thread reducer,
 * back to back, to say which is faster here.
 *
 * Options: --sizes=4,16,64 --members=2,3,4 --reducer=inline|worker
 *          --transports=grpc-ring,tcp-ring,grpc-ps --out=path (default RESULTS.md)
 *          --no-reducer-comparison
 *          --allocator=tuned|glibc  every member calls tuneAllocator() (tuned, the
 *              default) or keeps glibc's defaults (see member.ts)
 *          --allocator-ab  also run every group with the other allocator setting,
 *              back to back (order alternating), and add an A/B table
 * Environment: ALLREDUCE_CHUNK_BYTES (chunk size), ALLREDUCE_CPU_PROF_DIR (whole-process
 * profiles of the members), ALLREDUCE_PROFILE_TIMED (profiles of the timed all-reduces
 * only; see member.ts), ALLREDUCE_NODE_ARGS (extra node flags for the members).
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Child } from './child';
import type { FromMember, Transport } from './member';

const MB = 1024 * 1024;
const ANALYSIS_MARKER = '<!-- analysis: hand-written, kept by run.ts -->';
const arg = (name: string, fallback: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const sizes = arg('sizes', '4,16,64').split(',').map(Number);
const groups = arg('members', '2,3,4').split(',').map(Number);
const transports = arg('transports', 'grpc-ring,tcp-ring,grpc-ps').split(',') as Transport[];
const reducer = arg('reducer', 'inline');
const out = arg('out', path.join(__dirname, 'RESULTS.md'));
type Allocator = 'tuned' | 'glibc';
const allocator = arg('allocator', 'tuned') as Allocator;
if (allocator !== 'tuned' && allocator !== 'glibc') throw new Error(`--allocator must be tuned or glibc, got ${String(allocator)}`);
const otherAllocator: Allocator = allocator === 'tuned' ? 'glibc' : 'tuned';
const allocatorAb = process.argv.includes('--allocator-ab');

/** Warm-up iterations (JIT, connection set-up), then timed ones; fewer for 64 MB to stay within the time budget. */
const iterationsFor = (mb: number): { warmup: number; timed: number } => (mb >= 64 ? { warmup: 1, timed: 3 } : { warmup: 1, timed: 5 });


interface Row {
  transport: Transport;
  reducer: string;
  members: number;
  mb: number;
  medianMs: number;
  algbw: number;
  /** Median over iterations of the CPU time (user + system) of all members together during the timed all-reduce. */
  cpuMs: number;
  /** Median over iterations of the cores used by other processes meanwhile: (machine busy − members' CPU) / wall time. */
  othersCores: number;
  allocator: Allocator;
  /** What rank 0's tuneAllocator() reported. */
  allocatorDetail: string;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Busy CPU time of the whole machine so far, in ms (from /proc/stat; 0 where it does not exist). */
function machineBusyMs(): number {
  try {
    const [, ...fields] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    return ((user + nice + system + irq + softirq + steal) * 1000) / 100; // USER_HZ = 100
  } catch {
    return 0;
  }
}

async function runGroup(transport: Transport, n: number, mb: number, reducer: string, alloc: Allocator = allocator): Promise<Row> {
  const script = path.join(__dirname, 'member.ts');
  const env = { ...process.env, ALLREDUCE_ALLOCATOR: alloc };
  const children = Array.from({ length: n }, (_, rank) => new Child<FromMember>(fork(script, [transport, String(rank), String(n), reducer], { env, execArgv: ['--require', 'tsx/cjs', ...(process.env.ALLREDUCE_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ALLREDUCE_CPU_PROF_DIR}`] : []), ...(process.env.ALLREDUCE_NODE_ARGS?.split(' ').filter(Boolean) ?? [])] })));
  try {
    const listening = await Promise.all(children.map((c) => c.next()));
    const peers = listening.map((m, rank) => ({ rank, address: m.type === 'listening' ? m.address : '' }));
    const allocatorDetail = listening[0].type === 'listening' ? listening[0].allocator : '';
    children.forEach((c) => c.process.send({ type: 'peers', peers }));
    await Promise.all(children.map((c) => c.next()));
    const { warmup, timed } = iterationsFor(mb);
    const times: number[] = [];
    const cpus: number[] = [];
    const others: number[] = [];
    for (let step = 0; step < warmup + timed; step++) {
      children.forEach((c) => c.process.send({ type: 'prepare', elements: (mb * MB) / 4 }));
      await Promise.all(children.map((c) => c.next()));
      const busyBefore = machineBusyMs();
      const wallBefore = performance.now();
      children.forEach((c) => c.process.send({ type: 'iterate', step }));
      const results = await Promise.all(children.map((c) => c.next()));
      const wall = performance.now() - wallBefore;
      const busy = machineBusyMs() - busyBefore;
      for (const r of results) {
        if (r.type === 'failed') throw new Error(`${transport} N=${n} ${mb} MB failed: ${r.message}`);
      }
      // The check runs after every member is done (untimed), so that it never competes with a slower member.
      children.forEach((c) => c.process.send({ type: 'check' }));
      for (const r of await Promise.all(children.map((c) => c.next()))) {
        if (r.type !== 'checked' || r.maxError !== 0) throw new Error(`${transport} N=${n} ${mb} MB: wrong sum (${r.type === 'checked' ? `max error ${r.maxError}` : `got ${r.type}`})`);
      }
      if (step >= warmup) {
        times.push(Math.max(...results.map((r) => (r.type === 'done' ? r.ms : 0))));
        const members = results.reduce((sum, r) => sum + (r.type === 'done' ? r.cpuMs : 0), 0);
        cpus.push(members);
        others.push(Math.max(0, busy - members) / wall);
      }
    }
    const medianMs = median(times);
    return { transport, reducer, members: n, mb, medianMs, algbw: mb / (medianMs / 1000), cpuMs: median(cpus), othersCores: median(others), allocator: alloc, allocatorDetail };
  } finally {
    if (process.env.ALLREDUCE_CPU_PROF_DIR) {
      // Let the members exit normally so that --cpu-prof writes their profiles.
      await Promise.all(children.map((c) => new Promise((resolve) => (c.process.once('exit', resolve), c.process.send({ type: 'exit' })))));
    }
    for (const c of children) c.process.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadAtStart = os.loadavg()[0];
  const rows: Row[] = [];
  const abPairs: Array<[Row, Row]> = [];
  for (const n of groups) {
    for (const mb of sizes) {
      for (const transport of transports) {
        // With --allocator-ab the other setting runs back to back, first on every other group.
        const order: Allocator[] = !allocatorAb ? [allocator] : abPairs.length % 2 === 0 ? [allocator, otherAllocator] : [otherAllocator, allocator];
        const pair: Partial<Record<Allocator, Row>> = {};
        for (const alloc of order) {
          const row = await runGroup(transport, n, mb, reducer, alloc);
          pair[alloc] = row;
          console.log(`${transport.padEnd(9)} N=${n} ${String(mb).padStart(2)} MB  ${alloc.padEnd(5)}  median ${row.medianMs.toFixed(1).padStart(7)} ms  algbw ${row.algbw.toFixed(0).padStart(5)} MB/s  cpu(all members) ${row.cpuMs.toFixed(0).padStart(6)} ms  others ${row.othersCores.toFixed(2)} cores`);
        }
        rows.push(pair[allocator] as Row);
        if (allocatorAb) abPairs.push([pair[allocator] as Row, pair[otherAllocator] as Row]);
      }
    }
  }
  // Where the sum runs: the other reducer on the gRPC ring at 16 MB, run back to back with the main reducer.
  const other = reducer === 'inline' ? 'worker' : 'inline';
  const reducerRows: Array<[Row, Row]> = [];
  if (transports.includes('grpc-ring') && !process.argv.includes('--no-reducer-comparison')) {
    for (const n of groups) {
      const a = await runGroup('grpc-ring', n, 16, reducer);
      const b = await runGroup('grpc-ring', n, 16, other);
      reducerRows.push([a, b]);
      console.log(`grpc-ring N=${n} 16 MB  ${reducer} ${a.medianMs.toFixed(1)} ms  ${other} ${b.medianMs.toFixed(1)} ms`);
    }
  }
  const find = (t: Transport, n: number, mb: number): Row | undefined => rows.find((r) => r.transport === t && r.members === n && r.mb === mb);
  const lines = [
    '# All-reduce benchmark',
    '',
    `Command: \`npx tsx bench/allreduce/run.ts${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}\``,
    `Date: ${new Date().toISOString()}`,
    `Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, nproc ${os.availableParallelism()}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, node ${process.version}, loopback; all N processes share these cores.`,
    `Allocator: ${allocator === 'tuned' ? 'every member (all transports) calls tuneAllocator() from @unroll/kernels-native' : "glibc's defaults"} — rank 0 of the first group reported: ${rows[0]?.allocatorDetail ?? '–'}.`,
    `Member node flags: ${process.env.ALLREDUCE_NODE_ARGS?.trim() || 'none'} (ALLREDUCE_NODE_ARGS).`,
    `Reducer: ${reducer}. Chunk 1 MiB, bucket 4 MiB, gRPC client flow-control window 16 MiB. Median of ${iterationsFor(16).timed} timed iterations (${iterationsFor(64).timed} at 64 MB) after warm-up; an iteration's time is the slowest member's. MB = 2^20 bytes; algbw = S / time.`,
    `Total wall time: ${((Date.now() - started) / 1000).toFixed(0)} s. Load average (1 min) at start ${loadAtStart.toFixed(2)}, at end ${os.loadavg()[0].toFixed(2)}; cores used by other processes during the timed iterations (/proc/stat), median over all groups ${median(rows.map((r) => r.othersCores)).toFixed(2)} of ${os.availableParallelism()} — other work on the machine skews the numbers.`,
    '',
    '| N | size | gRPC ring ms | gRPC ring MB/s | TCP ring ms | TCP ring MB/s | gRPC PS ms | gRPC PS MB/s | gRPC/TCP bw | PS/ring time |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const n of groups) {
    for (const mb of sizes) {
      const g = find('grpc-ring', n, mb);
      const t = find('tcp-ring', n, mb);
      const p = find('grpc-ps', n, mb);
      const cell = (r: Row | undefined, f: (r: Row) => string): string => (r ? f(r) : '–');
      lines.push(
        `| ${n} | ${mb} MB | ${cell(g, (r) => r.medianMs.toFixed(1))} | ${cell(g, (r) => r.algbw.toFixed(0))} | ${cell(t, (r) => r.medianMs.toFixed(1))} | ${cell(t, (r) => r.algbw.toFixed(0))} | ${cell(p, (r) => r.medianMs.toFixed(1))} | ${cell(p, (r) => r.algbw.toFixed(0))} | ${g && t ? ((g.algbw / t.algbw) * 100).toFixed(0) + ' %' : '–'} | ${g && p ? (p.medianMs / g.medianMs).toFixed(2) + '×' : '–'} |`,
      );
    }
  }
  lines.push(
    '',
    'CPU time of all N members together during one timed all-reduce (median, ms; the members share 2 cores, so wall ≥ CPU / 2), and the cores other processes on the machine used meanwhile ((/proc/stat busy − members) / wall, median):',
    '',
    '| N | size | gRPC ring CPU | TCP ring CPU | gRPC PS CPU | others, cores (ring / TCP / PS) |',
    '|---|---|---|---|---|---|',
  );
  for (const n of groups) {
    for (const mb of sizes) {
      const [g, t, p] = (['grpc-ring', 'tcp-ring', 'grpc-ps'] as const).map((x) => find(x, n, mb));
      const cpu = (r: Row | undefined): string => (r ? r.cpuMs.toFixed(0) : '–');
      const oth = (r: Row | undefined): string => (r ? r.othersCores.toFixed(2) : '–');
      lines.push(`| ${n} | ${mb} MB | ${cpu(g)} | ${cpu(t)} | ${cpu(p)} | ${oth(g)} / ${oth(t)} / ${oth(p)} |`);
    }
  }
  if (reducerRows.length) {
    lines.push('', `Reducer comparison, gRPC ring, 16 MB (each pair run back to back):`, '', `| N | ${reducer} ms | ${other} ms |`, '|---|---|---|');
    for (const [a, b] of reducerRows) lines.push(`| ${a.members} | ${a.medianMs.toFixed(1)} | ${b.medianMs.toFixed(1)} |`);
  }
  if (abPairs.length) {
    lines.push(
      '',
      `Allocator A/B (each group run with ${allocator} and ${otherAllocator} back to back, the order alternating from group to group): median wall ms and CPU ms of all members, and the cores others used:`,
      '',
      `| transport | N | size | ${allocator} ms | ${otherAllocator} ms | ${allocator} CPU | ${otherAllocator} CPU | CPU ${allocator} / ${otherAllocator} | others (${allocator} / ${otherAllocator}) |`,
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const [a, b] of abPairs) {
      lines.push(`| ${a.transport} | ${a.members} | ${a.mb} MB | ${a.medianMs.toFixed(1)} | ${b.medianMs.toFixed(1)} | ${a.cpuMs.toFixed(0)} | ${b.cpuMs.toFixed(0)} | ${(a.cpuMs / b.cpuMs).toFixed(2)} | ${a.othersCores.toFixed(2)} / ${b.othersCores.toFixed(2)} |`);
    }
  }
  // Hand-written analysis below the marker survives a re-run.
  const previous = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  const marker = previous.indexOf(ANALYSIS_MARKER);
  const analysis = marker >= 0 ? previous.slice(marker) : `${ANALYSIS_MARKER}\n`;
  fs.writeFileSync(out, lines.join('\n') + '\n\n' + analysis);
  console.log(`\nwrote ${out}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
