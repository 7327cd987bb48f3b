/**
 * Timestamps of a step's events, for finding where a distributed step's time goes
 * (bench/cluster/step-trace.ts reads them). Off unless UNROLL_TRACE_DIR names a
 * directory: then every process (and thread) that calls {@link traceEvent} appends
 * JSON lines `{t, who, ev, g, s, ...}` to `<dir>/<who>.jsonl`, where t is the
 * host's monotonic clock in milliseconds (process.hrtime: libuv reads
 * CLOCK_MONOTONIC, one clock for every process and thread of a host — unlike
 * performance.timeOrigin, which each process fixes on its own at start).
 *
 * Garbage collections are recorded too (event 'gc', with kind and ms), stamped at
 * their end. Lines are buffered and written every 200 ms and at exit; a process killed with
 * SIGKILL loses its last 200 ms. When tracing is off a call costs one branch.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver, constants as perf } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';

export interface TraceFields {
  /** Generation and step the event belongs to. */
  g?: number;
  s?: number;
  [field: string]: string | number | boolean | undefined;
}

interface Tracer {
  who: string;
  file: string;
  lines: string[];
  timer: NodeJS.Timeout;
}

let tracer: Tracer | undefined | null = null;

function flush(t: Tracer): void {
  if (t.lines.length === 0) return;
  const text = t.lines.join('');
  t.lines.length = 0;
  try {
    appendFileSync(t.file, text);
  } catch {
    // A trace is a diagnostic: losing it never fails the run.
  }
}

/** Names this process in the trace (call before the first event; default `pid-<pid>`). */
export function traceAs(who: string): void {
  const t = current();
  if (!t) return;
  flush(t);
  t.who = who;
  t.file = t.file.replace(/[^/\\]+\.jsonl$/, `${safe(who)}.jsonl`);
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function current(): Tracer | undefined {
  if (tracer !== null) return tracer;
  const dir = process.env.UNROLL_TRACE_DIR;
  if (!dir) return (tracer = undefined);
  mkdirSync(dir, { recursive: true });
  const who = `pid-${process.pid}${threadId ? `-t${threadId}` : ''}`;
  const t: Tracer = { who, file: join(dir, `${who}.jsonl`), lines: [], timer: setInterval(() => flush(t), 200) };
  t.timer.unref();
  process.on('exit', () => flush(t));
  // Garbage collections of this thread, as events 'gc' with their kind and duration.
  const kinds: Record<number, string> = { [perf.NODE_PERFORMANCE_GC_MINOR]: 'minor', [perf.NODE_PERFORMANCE_GC_MAJOR]: 'major', [perf.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [perf.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = ((e as unknown as { detail?: { kind?: number } }).detail)?.kind ?? -1;
      // The entry's start is on this thread's performance clock; the event is stamped with the monotonic clock at its end.
      const endAgoMs = performance.now() - (e.startTime + e.duration);
      t.lines.push(`${JSON.stringify({ t: Number(process.hrtime.bigint()) / 1e6 - endAgoMs, who: t.who, ev: 'gc', kind: kinds[kind] ?? String(kind), ms: e.duration })}\n`);
    }
  }).observe({ entryTypes: ['gc'] });
  return (tracer = t);
}

/** Whether events are being recorded (UNROLL_TRACE_DIR set). */
export function tracing(): boolean {
  return current() !== undefined;
}

/** Records event `ev` now, when tracing is on. */
export function traceEvent(ev: string, fields: TraceFields = {}): void {
  const t = current();
  if (!t) return;
  t.lines.push(`${JSON.stringify({ t: Number(process.hrtime.bigint()) / 1e6, who: t.who, ev, ...fields })}\n`);
}
