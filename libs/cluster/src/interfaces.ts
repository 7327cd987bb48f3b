/**
 * The narrow interfaces through which the coordinator and the workers share state.
 * Business code (apps/coordinator, apps/worker) sees only these; each has a Redis
 * (or BullMQ) implementation and an in-memory one for unit tests, and both pass one
 * conformance suite (src/testing).
 *
 * Every record that can be raced on carries the experiment's generation, a fencing
 * token: a write that names an older generation is refused (DESIGN invariant 4).
 */

/** What a worker advertises when it registers. */
export interface WorkerInfo {
  /** Unique per process, e.g. `<hostname>-<pid>-<random>`. */
  id: string;
  /** host:port of its ring (gRPC) server. */
  ringAddress: string;
  /** Compute backend, kernel and device, e.g. {backend: 'wasm', kernel: 'tfjs', device: 'cpu'}. */
  backend: string;
  kernel: string;
  device: string;
  /** ms since epoch. */
  startedAt: number;
}

export interface MembershipStore {
  /** Registers (or refreshes) a worker; it stays alive for `ttlMs` unless heartbeat() renews it. */
  register(info: WorkerInfo, ttlMs: number): Promise<void>;
  /** Renews the worker's liveness; false if it had already expired (it must register again). */
  heartbeat(id: string, ttlMs: number): Promise<boolean>;
  /** Workers whose liveness has not expired, sorted by id. */
  alive(): Promise<WorkerInfo[]>;
  deregister(id: string): Promise<void>;
  /**
   * Removes the registration of one process — only if `id` is still registered with
   * that ring address and start time (a restarted process reusing the id keeps its
   * own). True if it was removed.
   */
  withdraw(info: Pick<WorkerInfo, 'id' | 'ringAddress' | 'startedAt'>): Promise<boolean>;
}

export type ExperimentStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** The coordinator's durable record of one experiment. */
export interface ExperimentRecord {
  id: string;
  /** The spec as submitted (YAML text); parsed again by whoever needs it. */
  specYaml: string;
  status: ExperimentStatus;
  /** Steps committed so far = the next step to run. */
  step: number;
  /** Membership generation; bumped on every membership change. */
  generation: number;
  /** Worker ids in ring order (rank = index) for the current generation. */
  members: string[];
  /** Set when status is failed. */
  error?: string;
  /** ms since epoch of the last update. */
  updatedAt: number;
}

/** Thrown by ExperimentStore.commit on a stale generation or step (defined with the other cluster errors). */
export { FencingError } from './cluster-errors';

export interface ExperimentStore {
  create(record: Omit<ExperimentRecord, 'updatedAt'>): Promise<void>;
  get(id: string): Promise<ExperimentRecord | undefined>;
  /** Opens a new generation with these members; returns it. Atomic. */
  newGeneration(id: string, members: string[]): Promise<number>;
  /** Commits step `step` under `generation`: step becomes step + 1. Throws FencingError if generation or step differ (compare-and-set). */
  commit(id: string, generation: number, step: number): Promise<void>;
  setStatus(id: string, status: ExperimentStatus, error?: string): Promise<void>;
}

/** Hidden states of stream groups between windows, keyed by (experiment, first stream, count, step). */
export interface HiddenStateStore {
  get(experiment: string, first: number, count: number, step: number): Promise<Float32Array[] | undefined>;
  /** Writes the state for `step` (each layer's h then c, as the caller lays them out). Idempotent: same key, same bytes. */
  put(experiment: string, first: number, count: number, step: number, layers: Float32Array[]): Promise<void>;
  /** Deletes every state of the experiment for steps < `step`. */
  deleteBefore(experiment: string, step: number): Promise<number>;
  deleteAll(experiment: string): Promise<number>;
}

/**
 * A window job of a step and the worker whose result the queue accepted for it (the
 * completed job's return value). A job that ran twice — a stalled lock, a slow
 * worker — may have a gradient on two workers; only the accepted one counts.
 */
export interface AcceptedJob {
  firstStream: number;
  worker: string;
}

/**
 * Messages on an experiment's control channel. All carry (experiment, generation, step).
 *
 * A 'reduce' names every window job of the step, in micro-batch order, with the
 * worker whose result was accepted: each member contributes exactly the jobs
 * accepted from it (zeros if none), so every job counts once. `count` is the
 * step's scored positions, which may be 0 (an episode dataset whose windows are
 * all padding or inside a many-to-one sequence): such a step is committed without
 * an update, as the single-process Trainer does. The closing barrier (`barrier`
 * true, count 0) names no job.
 *
 * A 'report' carries the member's timings of the reduction it answers (for the
 * coordinator's per-step timings and the benchmarks): `reduceSeconds`, the wall time
 * of its all-reduce call (including any wait for the slowest member to enter the
 * ring), and `applySeconds`, the time to stage the update (divide, norms, clip,
 * optimizer on a copy). 0 for the closing barrier; NaN (null on the wire) when the
 * phase did not run to its end.
 */
export type ControlMessage =
  | { type: 'reduce'; experiment: string; generation: number; step: number; count: number; lossSum: number; jobs: AcceptedJob[]; barrier?: boolean }
  | {
      type: 'report';
      experiment: string;
      generation: number;
      step: number;
      member: string;
      ok: boolean;
      gradNorm: number;
      skipped: boolean;
      reduceSeconds: number;
      applySeconds: number;
      error?: string;
      /** acceptedDigest of the jobs the member reduced (absent for the closing barrier). */
      jobs?: string;
      /** With ok false: the worker id of the ring peer the reduction failed on (dead or late), when it was one. */
      peer?: string;
    }
  | { type: 'commit'; experiment: string; generation: number; step: number }
  | { type: 'abort'; experiment: string; generation: number; step: number; reason: string }
  | { type: 'generation'; experiment: string; generation: number; step: number; members: string[] };

export interface ControlBus {
  publish(message: ControlMessage): Promise<void>;
  /** Calls `handler` for every message of `experiment` published after subscribe() resolves. Returns an unsubscribe function. */
  subscribe(experiment: string, handler: (m: ControlMessage) => void): Promise<() => Promise<void>>;
}

/** One micro-batch of one step: what a window job names. */
export interface WindowJob {
  experiment: string;
  generation: number;
  step: number;
  firstStream: number;
  streams: number;
}

export interface WindowResult {
  lossSum: number;
  count: number;
  worker: string;
  /** Wall time of the window's forward and backward pass on the worker, as its event loop sees it (with a compute thread: including the hand-off). */
  computeSeconds: number;
  /** ms since epoch, on the worker's clock, when its handler received the job (for the queue wait; absent from older workers). */
  startedAt?: number;
}

/** Queue of window jobs; the coordinator enqueues a step, workers take its jobs. */
export interface WindowQueue {
  /**
   * Enqueues every window job of a step as one flow and resolves when all are done, with their results in job order.
   * `signal` withdraws the step as a timeout does (jobs not started are removed; running ones finish and vanish) and
   * rejects with StepWithdrawnError — for a step enqueued ahead whose predecessor failed.
   */
  runStep(jobs: WindowJob[], opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<WindowResult[]>;
  /** Starts consuming jobs; `handler` runs one job. Returns a stop function. */
  consume(workerId: string, handler: (job: WindowJob) => Promise<WindowResult>, opts?: { concurrency?: number }): Promise<() => Promise<void>>;
  /**
   * Optional: calls `handler` with every window job's accepted result as the queue
   * accepts it — the event runStep itself resolves on — so that members can start a
   * step's reduce without waiting for the coordinator's 'reduce'. Returns a stop function.
   */
  watchCompleted?(handler: (done: CompletedWindow) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** A window job whose result the queue accepted (WindowQueue.watchCompleted). */
export interface CompletedWindow {
  experiment: string;
  generation: number;
  step: number;
  firstStream: number;
  result: WindowResult;
}

/**
 * A short digest of a step's accepted jobs (first stream and worker, in micro-batch
 * order): members report the one they reduced, and the coordinator fails the step
 * if it is not its own — so a member that derived the list itself (from the queue's
 * completion events) can never reduce another set of jobs than the coordinator names.
 */
export function acceptedDigest(jobs: ReadonlyArray<AcceptedJob>): string {
  let h = 0x811c9dc5;
  for (const ch of jobs.map((j) => `${j.firstStream}:${j.worker};`).join('')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${jobs.length}-${h.toString(16).padStart(8, '0')}`;
}

/** Submitted experiments, consumed by the coordinator. */
export interface ExperimentQueue {
  /** Queues an experiment (its record must exist). */
  submit(id: string): Promise<void>;
  /** Runs `handler` for each submitted experiment id, one at a time per coordinator. Returns a stop function. */
  consume(handler: (id: string) => Promise<void>): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
