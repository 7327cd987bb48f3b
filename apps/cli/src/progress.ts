/**
 * The live progress line of `unroll train` (and its printer, shared with `unroll submit --follow`):
 *   step 120/2000  loss 1.8421  bpc 2.658  12,345 tok/s  ETA 3m12s
 * Rewritten in place on a terminal; on a pipe, one line every few seconds.
 */
import type { RunEvent } from '@unroll/bptt';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

export interface ProgressWriter {
  write(text: string): void;
  isTTY?: boolean;
}

/**
 * A progress line's output: rewritten in place on a terminal; on a pipe, one line
 * every `intervalMs` and the last one. `unroll train` and `unroll submit --follow`.
 */
export class LivePrinter {
  private lastPrint = -Infinity;
  private open = false;

  constructor(
    private readonly out: ProgressWriter,
    private readonly intervalMs = 5000,
  ) {}

  /** Shows `line`; `last`: the run's last one (always printed on a pipe). */
  show(line: string, last: boolean): void {
    const now = Date.now();
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${line}`);
      this.open = true;
    } else if (now - this.lastPrint >= this.intervalMs || last) {
      this.out.write(`${line}\n`);
      this.lastPrint = now;
    }
  }

  /** Ends the in-place line, if one is open. */
  end(): void {
    if (this.open) {
      this.out.write('\n');
      this.open = false;
    }
  }

  /** Ends the in-place line before other output. */
  message(text: string): void {
    this.end();
    this.out.write(`${text}\n`);
  }
}

export class ProgressLine {
  private readonly printer: LivePrinter;
  private lossEma: number | undefined;
  /** First step of this run (a resumed run starts past 0), for the ETA. */
  private firstStep: number | undefined;

  constructor(out: ProgressWriter, intervalMs = 5000) {
    this.printer = new LivePrinter(out, intervalMs);
  }

  step(e: Extract<RunEvent, { type: 'step' }>): void {
    const r = e.result;
    const done = r.step + 1;
    if (Number.isFinite(r.loss)) this.lossEma = this.lossEma === undefined ? r.loss : 0.9 * this.lossEma + 0.1 * r.loss;
    const loss = this.lossEma ?? r.loss;
    this.firstStep ??= r.step;
    const eta = (e.total - done) * (e.elapsedSeconds / (done - this.firstStep));
    const line =
      `step ${done}/${e.total}  loss ${loss.toFixed(4)}  bpc ${(loss / Math.LN2).toFixed(3)}  ` +
      `${Math.round(e.tokensPerSecond).toLocaleString('en-US')} tok/s  ETA ${formatDuration(eta)}` +
      (r.skipped ? '  [skipped: non-finite gradient]' : r.clipped ? '  [clipped]' : '');
    this.printer.show(line, done === e.total);
  }

  /** Ends the in-place line before other output. */
  message(text: string): void {
    this.printer.message(text);
  }
}
