/**
 * Gathers the members' reports of one reduction from an experiment's control
 * channel. Only reports of the awaited (generation, step) from a member of that
 * generation count, each member once (a resent reduce is answered again); a report
 * naming an older generation is refused and counted (DESIGN invariant 4).
 *
 * Members may start a step's reduce from the queue's completion events, before the
 * coordinator's 'reduce' (step-participant.ts), so a report can arrive before the
 * coordinator awaits its step: reports of a current-or-newer generation that no
 * wait wants yet are kept (the newest EARLY_KEPT) and count when their step is awaited.
 */
import type { ControlMessage } from '@unroll/cluster';

export type Report = Extract<ControlMessage, { type: 'report' }>;

/** Early reports kept at most: a few steps of a large ring. */
const EARLY_KEPT = 256;

interface Awaited {
  generation: number;
  step: number;
  members: Set<string>;
  reports: Map<string, Report>;
  resolve(reports: Report[]): void;
}

export class ReportCollector {
  /** The experiment's current generation; reports of older ones are refused. */
  generation = -1;
  /** Reports refused for naming an older generation. */
  refused = 0;
  private awaited: Awaited | undefined;
  /** Reports no wait wanted yet, by `${generation}:${step}:${member}`. */
  private readonly early = new Map<string, Report>();

  constructor(
    readonly experiment: string,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Feed every message of the experiment's channel here. */
  onMessage(m: ControlMessage): void {
    if (m.type !== 'report' || m.experiment !== this.experiment) return;
    if (m.generation < this.generation) {
      this.refused++;
      this.log(`refused a report of ${m.member} for generation ${m.generation} (step ${m.step}): generation ${this.generation} exists`);
      return;
    }
    const a = this.awaited;
    if (!a || m.generation !== a.generation || m.step !== a.step) {
      if (a && (m.generation < a.generation || (m.generation === a.generation && m.step < a.step))) return; // a resent answer of a finished step
      this.early.set(`${m.generation}:${m.step}:${m.member}`, m);
      if (this.early.size > EARLY_KEPT) this.early.delete(this.early.keys().next().value as string);
      return;
    }
    this.add(a, m);
  }

  private add(a: Awaited, m: Report): void {
    if (!a.members.has(m.member) || a.reports.has(m.member) || this.awaited !== a) return;
    a.reports.set(m.member, m);
    // A failure ends the wait at once: the others' reports would not save the step.
    if (!m.ok || a.reports.size === a.members.size) {
      this.awaited = undefined;
      a.resolve([...a.reports.values()]);
    }
  }

  /** Resolves with every member's report of (generation, step), or earlier with the reports so far when one is not ok. */
  expect(generation: number, step: number, members: readonly string[]): { reports: Promise<Report[]>; missing(): string[]; cancel(): void } {
    let resolve!: (r: Report[]) => void;
    const reports = new Promise<Report[]>((res) => (resolve = res));
    const awaited: Awaited = { generation, step, members: new Set(members), reports: new Map(), resolve };
    this.awaited = awaited;
    for (const [key, r] of [...this.early]) {
      if (r.generation < generation || (r.generation === generation && r.step <= step)) this.early.delete(key);
      if (r.generation === generation && r.step === step) this.add(awaited, r);
    }
    return {
      reports,
      missing: () => members.filter((id) => !awaited.reports.has(id)),
      cancel: () => {
        if (this.awaited === awaited) this.awaited = undefined;
      },
    };
  }
}
