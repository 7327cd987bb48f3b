/**
 * Members of one experiment driven message by message, as the coordinator would:
 * a session and a StepParticipant each, over the in-memory stores and bus and one
 * in-memory collective hub per generation. For tests that need to reach between
 * the steps of the protocol (what a member holds, what it hands the collective).
 */
import path from 'node:path';
import type { AcceptedJob, ControlMessage, WindowJob, WindowResult } from '@unroll/cluster';
import { InMemoryControlBus, InMemoryExperimentStore, InMemoryHiddenStateStore } from '@unroll/cluster/testing';
import type { Collective } from '@unroll/collective';
import { InMemoryCollectiveHub } from '@unroll/collective/testing';
import { CheckpointWriter, ExperimentSession, executeWindow, StepParticipant, type ReportMessage } from '@unroll/worker';

export interface Member {
  id: string;
  session: ExperimentSession;
  participant: StepParticipant;
  /** Runs a window job on this member (the window executor, as the queue would call it). */
  run(job: WindowJob): Promise<WindowResult>;
}

export class MemberFixture {
  readonly experiments = new InMemoryExperimentStore();
  readonly states = new InMemoryHiddenStateStore();
  readonly bus = new InMemoryControlBus();
  readonly reports: ReportMessage[] = [];
  readonly sessions: ExperimentSession[] = [];

  constructor(
    readonly experiment: string,
    private readonly specYaml: string,
    private readonly dataRoot: string,
    private readonly checkpointDir: string,
  ) {}

  async open(): Promise<this> {
    await this.experiments.create({ id: this.experiment, specYaml: this.specYaml, status: 'running', step: 0, generation: 0, members: [] });
    await this.bus.subscribe(this.experiment, (m) => {
      if (m.type === 'report') this.reports.push(m);
    });
    return this;
  }

  /**
   * `n` members of a new generation, at version 0. `wrap` may replace a member's
   * collective (to record or alter what it reduces).
   */
  async members(n: number, opts: { timeoutMs?: number; wrap?: (rank: number, c: Collective) => Collective } = {}): Promise<Member[]> {
    const ids = Array.from({ length: n }, (_, i) => `w${i}`);
    await this.experiments.newGeneration(this.experiment, ids);
    const hub = new InMemoryCollectiveHub(n, { timeoutMs: opts.timeoutMs ?? 5000 });
    const out: Member[] = [];
    for (const [rank, id] of ids.entries()) {
      const session = ExperimentSession.load(this.experiment, this.specYaml, this.dataRoot);
      this.sessions.push(session);
      const collective = opts.wrap ? opts.wrap(rank, hub.members[rank]) : hub.members[rank];
      const participant = new StepParticipant(session, {
        workerId: id,
        bus: this.bus,
        experiments: this.experiments,
        collectives: { forMembers: async () => collective },
        checkpoints: new CheckpointWriter(path.join(this.checkpointDir, id), this.states),
        pollMs: 20,
        versionTimeoutMs: 2000,
      });
      await participant.syncWithRecord();
      const run = (job: WindowJob): Promise<WindowResult> =>
        executeWindow({ workerId: id, experiments: this.experiments, states: this.states, session: async () => session, awaitVersion: (_s, step, generation) => participant.awaitVersion(step, generation) }, job);
      out.push({ id, session, participant, run });
    }
    return out;
  }

  job(generation: number, step: number, firstStream: number, streams = 2): WindowJob {
    return { experiment: this.experiment, generation, step, firstStream, streams };
  }

  reduce(generation: number, step: number, count: number, jobs: AcceptedJob[]): ControlMessage {
    return { type: 'reduce', experiment: this.experiment, generation, step, count, lossSum: 0, jobs };
  }

  message(m: ControlMessage): ControlMessage {
    return m;
  }

  dispose(): void {
    for (const s of this.sessions) s.dispose();
  }
}

export function bytesOf(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
}

export function sameBytes(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>): boolean {
  if (a.size !== b.size) return false;
  return [...a].every(([k, v]) => b.has(k) && bytesOf(v) === bytesOf(b.get(k) as Float32Array));
}

export function copyOf(m: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  return new Map([...m].map(([k, v]) => [k, Float32Array.from(v)]));
}

export function maxAbsDiff(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>): number {
  let m = 0;
  for (const [name, x] of a) {
    const y = b.get(name);
    if (!y || y.length !== x.length) return Number.POSITIVE_INFINITY;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return a.size === b.size ? m : Number.POSITIVE_INFINITY;
}
