/**
 * A whole cluster in one process: the coordinator's ExperimentRunner and N
 * WorkerNodes over the in-memory cluster fakes and the in-memory collective, so
 * the step protocol runs exactly as it does across processes, minus Redis and gRPC.
 */
import type { WindowJob, WindowQueue, WindowResult } from '@unroll/cluster';
import { InMemoryControlBus, InMemoryExperimentStore, InMemoryHiddenStateStore, InMemoryMembershipStore, InMemoryWindowQueue } from '@unroll/cluster/testing';
import { InMemoryCollectiveHub } from '@unroll/collective/testing';
import { ExperimentRunner, MembershipWatcher, type ExperimentRunnerOptions } from '@unroll/coordinator';
import { WorkerNode } from '@unroll/worker';

export interface InProcessClusterOptions {
  workers: number;
  dataRoot: string;
  checkpointDir: string;
  runner?: ExperimentRunnerOptions;
  log?: (line: string) => void;
  /**
   * Every window job also runs on the next worker (rank + 1), whose result is then
   * thrown away — what BullMQ does when a job's lock expires on a slow worker and
   * another takes it over: two workers computed it, one result is accepted.
   */
  duplicateJobs?: boolean;
}

type Handler = (job: WindowJob) => Promise<WindowResult>;

export class InProcessCluster {
  readonly membership = new InMemoryMembershipStore();
  readonly experiments = new InMemoryExperimentStore();
  readonly states = new InMemoryHiddenStateStore();
  readonly bus = new InMemoryControlBus();
  readonly windows = new InMemoryWindowQueue();
  readonly hub: InMemoryCollectiveHub;
  readonly workers: WorkerNode[];
  readonly runner: ExperimentRunner;
  /** Jobs run a second time on another worker (duplicateJobs). */
  duplicated = 0;
  private next = 0;

  constructor(o: InProcessClusterOptions) {
    this.hub = new InMemoryCollectiveHub(o.workers, { timeoutMs: 10_000 });
    const hub = this.hub;
    const handlers = new Map<string, Handler>();
    const ids = Array.from({ length: o.workers }, (_, i) => `w${i}`);
    const queueOfWorkers: WindowQueue = {
      runStep: (jobs, opts) => this.windows.runStep(jobs, opts),
      close: () => this.windows.close(),
      consume: (workerId, handler, opts) => {
        handlers.set(workerId, handler);
        if (!o.duplicateJobs) return this.windows.consume(workerId, handler, opts);
        const twin = ids[(ids.indexOf(workerId) + 1) % ids.length];
        return this.windows.consume(
          workerId,
          async (job) => {
            const accepted = await handler(job);
            const other = handlers.get(twin);
            if (other && twin !== workerId) {
              await other(job); // computed, its gradient kept on the twin — and its result refused
              this.duplicated++;
            }
            return accepted;
          },
          opts,
        );
      },
    };
    this.workers = Array.from(
      { length: o.workers },
      (_, i) =>
        new WorkerNode(
          {
            membership: this.membership,
            experiments: this.experiments,
            states: this.states,
            bus: this.bus,
            windows: queueOfWorkers,
            collectives: { forMembers: async (_e, _members, rank) => hub.members[rank] },
          },
          {
            info: { id: ids[i], ringAddress: `in-memory://${i}`, backend: 'cpu', kernel: 'tfjs', device: 'cpu', startedAt: Date.now() },
            dataRoot: o.dataRoot,
            checkpointDir: o.checkpointDir,
            log: o.log,
          },
        ),
    );
    this.runner = new ExperimentRunner(
      { experiments: this.experiments, states: this.states, bus: this.bus, windows: this.windows, watcher: new MembershipWatcher(this.membership, { pollMs: 50, formTimeoutMs: 5000 }) },
      { resendMs: 200, reportTimeoutMs: 20_000, jobsTimeoutMs: 60_000, log: o.log, ...o.runner },
    );
  }

  async start(): Promise<void> {
    for (const w of this.workers) await w.start();
  }

  /** Creates the record of an experiment from spec text; returns its id. */
  async create(specYaml: string): Promise<string> {
    const id = `exp-${this.next++}`;
    await this.experiments.create({ id, specYaml, status: 'queued', step: 0, generation: 0, members: [] });
    return id;
  }

  async stop(): Promise<void> {
    for (const w of this.workers) await w.stop();
    await this.windows.close();
    await this.bus.close();
  }
}
