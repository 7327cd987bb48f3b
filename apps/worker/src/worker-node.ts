/**
 * A worker process's life, over the cluster interfaces only (no Redis, no gRPC
 * here: the stores, the bus, the queue and the collectives are handed in).
 *
 * The agent has three responsibilities:
 *   1. membership — register with its ring address and backend, heartbeat every
 *      ttl/3 (re-register if the entry expired), deregister on stop;
 *   2. discovery — listen on the cluster channel for the coordinator's
 *      announcements ("experiment E opened generation g"), then load the experiment
 *      (spec, data, network at version 0), subscribe to its control channel and
 *      join its generation (step-participant.ts); a window job of an experiment not
 *      yet known loads it the same way;
 *   3. work — consume window jobs (window-executor.ts) and take part in the steps.
 *
 * The state machine of the worker process — {@link WorkerState}; its state in each
 * experiment is the participant's MemberPhase.
 *
 * Compute and the event loop. windowGradients is synchronous on the tfjs cpu and
 * wasm backends: computed on the event loop, a window blocks it for its whole
 * compute time — heartbeats (every ttl/3 = 3.3 s by default), BullMQ lock renewal
 * (every lockDuration/2 = 5 s; the lock expires after 10 s) and the ring server wait.
 * Measured with perf_hooks.monitorEventLoopDelay (LSTM, one job of B streams × T):
 *   cpu   H=128 B=16 T=35: 0.5 s lag · H=256 B=32 T=35: 3.2 s · H=512 B=32 T=50: 15.7 s
 *   wasm  H=128 B=16 T=35: 0.06 s   · H=256 B=32 T=35: 0.17 s · H=512 B=32 T=50: 0.59 s
 * The lag equals the window's compute time. Past ttl/3 a heartbeat is late; past
 * the 10 s TTL the worker is declared lost, and past the 10 s lock its job is re-run
 * elsewhere (counted once: exactly-once contributions, experiment-session.ts).
 * Hence options.compute 'thread' (the worker process's default): windows run on a
 * worker_threads thread (window-compute.ts) and the event loop stays free; the
 * measured lag during the H=512 cpu window above is then a few ms
 * (tests/distributed/event-loop.spec.ts). What still runs on the event loop: the
 * host-side sums of held gradients, the staging (norm, clip, optimizer) and the
 * checkpoint — linear in the parameter count, milliseconds for these sizes.
 */
import type { ControlBus, ControlMessage, ExperimentStore, HiddenStateStore, MembershipStore, WindowJob, WindowQueue, WindowResult, WorkerInfo } from '@unroll/cluster';
import { CheckpointWriter } from './checkpoint-writer';
import { CLUSTER_CHANNEL, announcedExperiment } from './cluster-channel';
import { ExperimentSession, SessionReleasedError } from './experiment-session';
import { restoreSnapshot, snapshotOf } from './state-snapshot';
import { StepParticipant, type CollectiveProvider } from './step-participant';
import { InlineWindowCompute, ThreadWindowCompute, type WindowCompute } from './window-compute';
import { executeWindow } from './window-executor';

/** Runs of a window job whose session was released while it waited because the worker loads the experiment again (runJob). */
const MAX_RUNS_ON_RELOAD = 3;

/**
 *   Starting ──registered, consuming──▶ Running ──stop()──▶ Stopping ──▶ Stopped
 *   Starting ──error──▶ Stopped
 */
export enum WorkerState {
  Starting = 'starting',
  Running = 'running',
  Stopping = 'stopping',
  Stopped = 'stopped',
}

export interface WorkerNodeDeps {
  membership: MembershipStore;
  experiments: ExperimentStore;
  states: HiddenStateStore;
  bus: ControlBus;
  windows: WindowQueue;
  collectives: CollectiveProvider;
}

export interface WorkerNodeOptions {
  info: WorkerInfo;
  /** Root the specs' data paths are resolved under. */
  dataRoot: string;
  /** Checkpoints go to `<checkpointDir>/<metadata.name>/` (rank 0 writes). */
  checkpointDir: string;
  /** Liveness of the registration. @defaultValue 10 s — a dead worker is noticed within seconds, and a GC pause does not expire it */
  heartbeatTtlMs?: number;
  /** Wait for the parameters of a job's or reduction's step. @defaultValue 60 s */
  versionTimeoutMs?: number;
  /** Window jobs run at once. @defaultValue 1 — compute is synchronous; more would only queue behind it */
  concurrency?: number;
  /**
   * Diagnostic: sleep this many ms after computing each window, to emulate a slower
   * device (load-balance tests and benchmarks). The sleep is counted in the job's
   * computeSeconds and does not block the event loop. @defaultValue 0
   */
  throttleMs?: number;
  /**
   * Where windows are computed (window-compute.ts): 'thread' — a worker_threads
   * thread with its own tfjs, so the event loop keeps heartbeating, renewing locks
   * and serving the ring during a long window; 'inline' — on the event loop.
   * @defaultValue 'inline' here (in-process tests share one tfjs); the worker process defaults to 'thread'
   */
  compute?: 'inline' | 'thread';
/**
   * Whether a window job of step s + 1 may start computing on this worker's staged
   * update of step s before its commit arrives (the commit's round trip — report,
   * compare-and-set, 'commit' — then overlaps the window instead of delaying it).
   * Nothing of such a window leaves the worker before that commit is applied, and it
   * is computed again if another update was committed (window-executor.ts).
   * @defaultValue true
   */
  speculate?: boolean;
  log?: (line: string) => void;
}

interface ExperimentHandle {
  session: ExperimentSession;
  participant: StepParticipant;
  unsubscribe: () => Promise<void>;
}

export class WorkerNode {
  state = WorkerState.Starting;
  private readonly experimentsById = new Map<string, Promise<ExperimentHandle>>();
  private readonly checkpoints: CheckpointWriter;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopConsuming: (() => Promise<void>) | undefined;
  private unsubscribeCluster: (() => Promise<void>) | undefined;
  private stopWatching: (() => Promise<void>) | undefined;
  /** The handles loaded so far, for the queue's completion events (delivered synchronously). */
  private readonly loaded = new Map<string, ExperimentHandle>();
  /** The participant of each session: a job waits on the participant of the session it runs on, even once another is loaded. */
  private readonly participants = new WeakMap<ExperimentSession, StepParticipant>();
  private readonly compute: WindowCompute;

  constructor(
    private readonly deps: WorkerNodeDeps,
    private readonly options: WorkerNodeOptions,
  ) {
    this.checkpoints = new CheckpointWriter(options.checkpointDir, deps.states);
    // Joiners of a run in progress fetch the committed state of an experiment from a member (state-snapshot.ts).
    deps.collectives.serveState?.({
      snapshot: async (experiment) => {
        const h = this.loaded.get(experiment);
        return h && h.participant.rank >= 0 ? snapshotOf(h.session, h.participant.generation) : undefined;
      },
    });
    this.compute = options.compute === 'thread' ? new ThreadWindowCompute({ backend: options.info.backend, dataRoot: options.dataRoot, traceAs: `${options.info.id}-compute` }) : new InlineWindowCompute();
  }

  get id(): string {
    return this.options.info.id;
  }

  private get ttl(): number {
    return this.options.heartbeatTtlMs ?? 10_000;
  }

  async start(): Promise<void> {
    try {
      this.unsubscribeCluster = await this.deps.bus.subscribe(CLUSTER_CHANNEL, (m) => this.onAnnouncement(m));
      await this.deps.membership.register(this.options.info, this.ttl);
      this.heartbeat = setInterval(() => void this.beat(), Math.max(1, Math.floor(this.ttl / 3)));
      // Members start a step's reduce from the window jobs' completions (step-participant.ts), a hop before the coordinator's 'reduce'.
      this.stopWatching = await this.deps.windows.watchCompleted?.((done) => this.loaded.get(done.experiment)?.participant.noteCompleted(done));
      this.stopConsuming = await this.deps.windows.consume(this.id, (job) => this.runJob(job), { concurrency: this.options.concurrency ?? 1 });
      this.state = WorkerState.Running;
    } catch (e) {
      this.state = WorkerState.Stopped;
      clearInterval(this.heartbeat);
      throw e;
    }
  }

  async stop(): Promise<void> {
    if (this.state === WorkerState.Stopped || this.state === WorkerState.Stopping) return;
    this.state = WorkerState.Stopping;
    clearInterval(this.heartbeat);
    await this.stopConsuming?.();
    await this.stopWatching?.();
    await this.unsubscribeCluster?.();
    for (const id of [...this.experimentsById.keys()]) await this.release(id);
    await this.deps.membership.deregister(this.id).catch(() => undefined);
    await this.compute.close();
    this.state = WorkerState.Stopped;
  }

  /** The worker's handle of an experiment, loading it on first use. */
  experiment(id: string): Promise<ExperimentHandle> {
    let h = this.experimentsById.get(id);
    if (!h) {
      h = this.load(id);
      this.experimentsById.set(id, h);
      h.catch(() => this.experimentsById.delete(id));
    }
    return h;
  }

  /**
   * Runs a window job. A job whose session was released while it waited (the worker
   * loads the experiment again: an observer taken in after step 0) runs again at once
   * on the session loaded anew — nothing of it was written yet — instead of failing an
   * attempt.
   */
  async runJob(job: WindowJob): Promise<WindowResult> {
    for (let run = 1; ; run++) {
      try {
        return await this.executeJob(job);
      } catch (e) {
        if (!(e instanceof SessionReleasedError && e.reloading) || run >= MAX_RUNS_ON_RELOAD) throw e;
        this.log(`window job ${job.experiment}/g${job.generation}/s${job.step}/streams ${job.firstStream}+: its session was released while it waited; running it on the session loaded again`);
      }
    }
  }

  private executeJob(job: WindowJob): Promise<WindowResult> {
    return executeWindow(
      {
        workerId: this.id,
        experiments: this.deps.experiments,
        states: this.deps.states,
        session: async (id) => (await this.experiment(id)).session,
        awaitVersion: async (session, step, generation) => this.participantOf(session).awaitVersion(step, generation),
        awaitParams: this.options.speculate === false ? undefined : async (session, step, generation) => this.participantOf(session).awaitParams(step, generation),
        throttleMs: this.options.throttleMs,
        compute: this.compute,
        knownGeneration: (id) => {
          const p = this.loaded.get(id)?.participant;
          return p && p.generation >= 0 ? { generation: p.generation, members: p.members } : undefined;
        },
      },
      job,
    );
  }

  private async load(id: string): Promise<ExperimentHandle> {
    await this.releaseFinished(id);
    const record = await this.deps.experiments.get(id);
    if (!record) throw new Error(`experiment ${id} does not exist`);
    const session = ExperimentSession.load(id, record.specYaml, this.options.dataRoot);
    session.lazyNet = this.options.compute === 'thread';
    if (record.step > 0) {
      // Joining a run in progress (a generation that names this worker, opened after step 0):
      // the committed parameters and optimizer state of the record's step come from a member.
      const from = record.members.filter((m) => m !== this.id);
      if (!record.members.includes(this.id) || from.length === 0 || !this.deps.collectives.fetchState) {
        session.dispose();
        throw new Error(`experiment ${id} is at step ${record.step} and this worker is not a member of its generation ${record.generation}: it joins when the coordinator takes it in`);
      }
      try {
        const t0 = performance.now();
        const snapshot = await this.deps.collectives.fetchState(id, record.generation, record.step, from);
        restoreSnapshot(session, snapshot);
        this.log(`took the state of ${id} at step ${snapshot.step} from a member (${snapshot.tensors.length} tensors, ${((performance.now() - t0) / 1000).toFixed(2)} s)`);
      } catch (e) {
        session.dispose();
        throw e;
      }
    }
    const participant = new StepParticipant(session, {
      workerId: this.id,
      bus: this.deps.bus,
      experiments: this.deps.experiments,
      collectives: this.deps.collectives,
      checkpoints: this.checkpoints,
      versionTimeoutMs: this.options.versionTimeoutMs,
      log: this.options.log,
    });
    const unsubscribe = await this.deps.bus.subscribe(id, (m) => void participant.receive(m).catch(() => undefined));
    await participant.syncWithRecord();
    this.log(`joined ${id} (${session.spec.metadata.name}) generation ${participant.generation} as ${participant.rank >= 0 ? `rank ${participant.rank} of ${participant.members.length}` : 'an observer'}`);
    const handle = { session, participant, unsubscribe };
    this.loaded.set(id, handle);
    this.participants.set(session, participant);
    return handle;
  }

  private onAnnouncement(m: ControlMessage): void {
    const id = announcedExperiment(m);
    if (id === undefined || this.state !== WorkerState.Running) return;
    this.reloadIfBehind(id)
      .then(() => this.experiment(id))
      .then((h) => h.participant.syncWithRecord())
      .catch((e: unknown) => this.log(`cannot join ${id}: ${e instanceof Error ? e.message : String(e)}`));
  }

  private participantOf(session: ExperimentSession): StepParticipant {
    const participant = this.participants.get(session);
    if (!participant) throw new Error(`experiment ${session.id}: a job holds a session this worker never loaded with a participant`);
    return participant;
  }

  /**
   * A session this worker holds that the record's generation names but that is behind
   * the record by more than the commit it has staged — an observer admitted after step
   * 0 (an observer applies no commits), or a member dropped by a recovery and taken in
   * again — cannot catch up by commits: it is released, and loaded again with the
   * committed state fetched from a member (load).
   */
  private async reloadIfBehind(id: string): Promise<void> {
    const h = this.loaded.get(id);
    if (!h) return;
    const record = await this.deps.experiments.get(id);
    if (!record || !record.members.includes(this.id)) return;
    const s = h.session;
    const healable = s.staged?.step === s.version && record.step === s.version + 1;
    if (s.version >= record.step || healable) return;
    // Another handler may have reloaded it meanwhile: never release the session just loaded.
    if (this.loaded.get(id) !== h) return;
    this.log(`${id}: this worker's parameters are at version ${s.version}, the run at step ${record.step}: loading it again from a member`);
    await this.release(id, { reloading: true });
  }

  /** Frees the sessions of experiments that have ended (other than `except`). */
  private async releaseFinished(except: string): Promise<void> {
    for (const id of [...this.experimentsById.keys()]) {
      if (id === except) continue;
      const record = await this.deps.experiments.get(id);
      if (!record || (record.status !== 'running' && record.status !== 'queued')) await this.release(id);
    }
  }

  private async release(id: string, opts: { reloading?: boolean } = {}): Promise<void> {
    const h = this.experimentsById.get(id);
    this.experimentsById.delete(id);
    this.loaded.delete(id);
    const handle = await h?.catch(() => undefined);
    if (!handle) return;
    await handle.unsubscribe();
    this.compute.release(id);
    handle.participant.close();
    handle.session.dispose(opts);
  }

  private async beat(): Promise<void> {
    try {
      if (!(await this.deps.membership.heartbeat(this.id, this.ttl))) {
        this.log('registration expired; registering again');
        await this.deps.membership.register(this.options.info, this.ttl);
      }
    } catch (e) {
      this.log(`heartbeat failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private log(line: string): void {
    this.options.log?.(`[${this.id}] ${line}`);
  }
}
