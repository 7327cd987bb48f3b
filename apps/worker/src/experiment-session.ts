/**
 * What one worker holds for one experiment: the spec and its data, the network it
 * computes with, the committed parameters (version v = steps committed) and the
 * optimizer, the gradients of the window jobs it ran in the steps in flight, and at
 * most one staged update waiting for its commit.
 *
 * Every worker builds the same initial parameters from the spec's seed (the same
 * draw as `unroll train`), so version 0 needs no transfer; after that a member moves
 * from version s to s + 1 only by committing the update it staged for step s.
 *
 * Exactly-once contributions. The queue may run a window job on two workers (a
 * stalled lock, a slow worker whose job was taken over) and accepts one result. So
 * a worker keeps the gradient of each job it ran separately, keyed by (generation,
 * step, first stream), until the reduce; the coordinator's 'reduce' names, per job,
 * the worker whose result was accepted, and takeContribution sums only the jobs
 * accepted from this worker, in micro-batch order (zeros if none) — every job counts
 * once across the ring. A job run twice on this worker keeps one gradient (the same
 * bytes, DESIGN invariant 2). Memory: one gradient per job run, held from the job to
 * its step's reduce (a worker running k of a step's jobs holds k gradients).
 */
import {
  accumulate,
  buildNetwork,
  buildOptimizer,
  experimentKernel,
  kernelSelectionFromEnv,
  loadExperimentData,
  TbpttSchedule,
  tbpttConfig,
  zerosLike,
  type ExperimentData,
  type NamedArrays,
  type Optimizer,
  type OptimizerState,
} from '@unroll/bptt';
import { directions, hasCellState, Rng, tf, type NetworkState, type RecurrentNetwork } from '@unroll/models';
import { parseSpec, type ExperimentSpec } from '@unroll/spec';
import { stagingCopy, type StagedUpdate } from './staged-update';
import { unpackState } from './hidden-state-layout';

export class SessionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A message or job names a step this worker has already committed past. */
export class StaleStepError extends SessionError {}

/**
 * The session was released while a job or reduction waited on it (the worker loads
 * the experiment again, e.g. an observer taken in after step 0): the wait ends now
 * instead of at its timeout, and the job runs again on the session loaded anew.
 */
export class SessionReleasedError extends SessionError {
  constructor(
    message: string,
    /** The worker is loading the experiment again (a job runs again on the new session, which also answers the step's reduce). */
    readonly reloading: boolean,
  ) {
    super(message);
  }
}

/** The committed parameters did not reach the version a job or reduction needs in time. */
export class VersionTimeoutError extends SessionError {}

/** The coordinator accepted a job's result from this worker, but this worker holds no gradient for it (it was dropped). */
export class MissingContributionError extends SessionError {}

/** How a wait for a version behaves (ExperimentSession.awaitVersion, awaitParams). */
export interface VersionWait {
  timeoutMs: number;
  /** How often `heal` runs while waiting. */
  pollMs: number;
  /** May apply a commit whose message was lost (the commit is durable in the experiment record). */
  heal: () => Promise<void>;
  /** A reason to give up (a newer generation), checked on every wake-up. */
  cancelled?: () => string | undefined;
}

/** What prepareStaging copies ahead of a staging at `version`. */
export interface PreparedStaging {
  version: number;
  optimizerBefore: OptimizerState;
  params: NamedArrays;
}

export class ExperimentSession {
  readonly schedule: TbpttSchedule;
  /** Committed parameters, version `version`. */
  params: NamedArrays;
  /** Steps committed. */
  version = 0;
  readonly counters = { skipped: 0, clipped: 0 };
  /** RNG state after the network's initialisation, as `unroll train` checkpoints it. */
  readonly rngState: Uint32Array;
  /** Gradients of the jobs run, by `${generation}:${step}`, then by first stream. */
  private readonly contributions = new Map<string, Map<number, NamedArrays>>();
  private stagedUpdate: StagedUpdate | undefined;
  /**
   * Whether a commit leaves the network's variables behind until loadNet (set by a
   * worker whose windows run on the compute thread, which holds its own network):
   * saves copying every parameter into tfjs on the event loop at each commit.
   */
  lazyNet = false;
  /** The parameters the network's variables hold (loadNet); `params` at version 0. */
  private netParams: NamedArrays | undefined;
  /** Copies taken ahead of the next staging (prepareStaging), for the version they were taken at. */
  private prepared: PreparedStaging | undefined;
  /** The rollback copy of the optimizer of the last committed update: nobody reads it any more, the next one is copied into it. */
  private spareOptimizerState: OptimizerState | undefined;
  private waiters: Array<() => void> = [];
  /** Set by dispose: waits on this session end, saying whether it is being loaded again. */
  private released: { reloading: boolean } | undefined;
  /** Hidden-state writes of the jobs run, by `${generation}:${step}`, not yet flushed (trackWrite). */
  private readonly writes = new Map<string, Array<Promise<unknown>>>();
  /**
   * Running sums of the gradients held per `${generation}:${step}`, in the order the
   * jobs ran, built on the event loop while the next window computes (or while the
   * step's completion travels to the coordinator and back), so that the reduce
   * usually finds this worker's contribution already summed (takeContribution).
   */
  private readonly running = new Map<string, { order: number[]; sum: NamedArrays }>();
  private summing: NodeJS.Immediate | undefined;

  private constructor(
    readonly id: string,
    /** The spec as submitted (the compute thread builds its own copy from it). */
    readonly specYaml: string,
    readonly spec: ExperimentSpec,
    readonly data: ExperimentData,
    readonly net: RecurrentNetwork,
    readonly optimizer: Optimizer,
    rng: Rng,
  ) {
    this.schedule = new TbpttSchedule(tbpttConfig(spec), data.train.positions);
    this.rngState = rng.state();
    this.params = net.snapshot();
    this.netParams = this.params;
  }

  /** Parses the spec, loads the data under `dataRoot` and builds network and optimizer at version 0. The compute backend must be selected already. */
  static load(id: string, specYaml: string, dataRoot: string): ExperimentSession {
    const spec = parseSpec(specYaml, `experiment ${id}`);
    const data = loadExperimentData(spec, dataRoot);
    const rng = new Rng(spec.spec.seed);
    // The worker's kernel (--kernel / UNROLL_KERNEL, else the spec's, else auto).
    const net = buildNetwork(spec, data, rng, experimentKernel(spec, kernelSelectionFromEnv(process.env, (line) => void process.stderr.write(`unroll-worker: ${line}\n`))));
    return new ExperimentSession(id, specYaml, spec, data, net, buildOptimizer(spec), rng);
  }

  /** Parameter names in the network's order: the order of every reduction (reduction-layout.ts). */
  get parameterOrder(): string[] {
    return this.net.specs.map((p) => p.name);
  }

  get staged(): StagedUpdate | undefined {
    return this.stagedUpdate;
  }

  /** The state a window of streams [first, first + count) starts from at `step`: zeros at an epoch's first window, else the stored one. */
  stateAt(first: number, count: number, step: number, stored: Float32Array[] | undefined): NetworkState {
    if (this.schedule.windowAt(step).index === 0) return this.net.zeroState(count);
    if (!stored) throw new SessionError(`experiment ${this.id}: no hidden state stored for streams [${first}, ${first + count}) at step ${step}`);
    // The network's own state layout (zeroState): layers × directions entries, a cell state where the cell has one (LSTM variants, ConvLSTM).
    const cfg = this.net.config;
    return unpackState(stored, { layers: cfg.layers * directions(cfg), hidden: cfg.hidden, withCell: hasCellState(cfg.cell), streams: count }, `hidden state of streams [${first}, ${first + count}) at step ${step}`);
  }

  /**
   * Keeps the gradient of the job (generation, step, firstStream) until its step's
   * reduce. Returns false if this worker already holds it (the job ran here twice),
   * or if the step is committed already (a stalled run finishing late: its result
   * was not the accepted one, and keeping it would leak).
   */
  addContribution(generation: number, step: number, firstStream: number, grads: ReadonlyMap<string, Float32Array>): boolean {
    if (step < this.version) return false;
    const key = `${generation}:${step}`;
    let jobs = this.contributions.get(key);
    if (!jobs) this.contributions.set(key, (jobs = new Map()));
    if (jobs.has(firstStream)) return false;
    const own: NamedArrays = new Map();
    for (const name of this.parameterOrder) {
      const a = this.params.get(name) as Float32Array;
      const b = grads.get(name);
      if (!b || b.length !== a.length) throw new SessionError(`gradient of ${name} is missing or of the wrong size`);
      own.set(name, b);
    }
    jobs.set(firstStream, own);
    this.summing ??= setImmediate(() => {
      this.summing = undefined;
      this.sumAhead();
    });
    return true;
  }

  /**
   * Extends the running sum of each step's held gradients by the ones added since.
   * The sum is built exactly as takeContribution builds it — the first gradient as
   * the accumulator's value, then `+=` in order — but into a fresh array, so the held
   * gradients stay untouched and a reduce that accepts a different set of this
   * worker's jobs (a job also run elsewhere) still sums from them.
   */
  private sumAhead(): void {
    for (const [key, jobs] of this.contributions) {
      if (jobs.size < 2) continue; // one job: its gradient is the contribution as it is
      const r = this.running.get(key) ?? { order: [], sum: new Map<string, Float32Array>() };
      for (const [first, g] of jobs) {
        if (r.order.includes(first)) continue;
        if (r.order.length === 0) {
          for (const [name, a] of g) r.sum.set(name, a.slice());
        } else {
          accumulate(r.sum, g);
        }
        r.order.push(first);
      }
      if (r.order.length > 0) this.running.set(key, r);
    }
  }

  /**
   * Keeps a job's hidden-state write in flight (the executor does not wait for it
   * before returning the job's result): the step's reduce flushes the writes of
   * (generation, step) before this worker reports — before the coordinator can
   * commit and the next step's jobs can read them.
   */
  trackWrite(generation: number, step: number, write: Promise<unknown>): void {
    write.catch(() => undefined); // observed in flushWrites
    if (step < this.version) return;
    const key = `${generation}:${step}`;
    const list = this.writes.get(key);
    if (list) list.push(write);
    else this.writes.set(key, [write]);
  }

  /** Waits for this worker's hidden-state writes of (generation, step); rejects with the first write's error. */
  async flushWrites(generation: number, step: number): Promise<void> {
    const key = `${generation}:${step}`;
    const list = this.writes.get(key) ?? [];
    this.writes.delete(key);
    await Promise.all(list);
  }

  /** First streams of the jobs of (generation, step) this worker holds a gradient for. */
  heldJobs(generation: number, step: number): number[] {
    return [...(this.contributions.get(`${generation}:${step}`)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * This worker's contribution to the reduce of (generation, step): the sum, in the
   * order of `accepted` (micro-batch order), of the gradients of the jobs accepted
   * from `workerId` — zeros if none. Every gradient held for the step is released,
   * accepted or not. `missing` lists the jobs accepted from this worker that it
   * holds no gradient for: the caller must still take part in the all-reduce (the
   * other members are in it) and then fail the step (MissingContributionError).
   */
  takeContribution(
    generation: number,
    step: number,
    accepted: ReadonlyArray<{ firstStream: number; worker: string }>,
    workerId: string,
  ): { grads: NamedArrays; jobs: number; missing: number[] } {
    const held = this.contributions.get(`${generation}:${step}`) ?? new Map<number, NamedArrays>();
    this.contributions.delete(`${generation}:${step}`);
    const ahead = this.running.get(`${generation}:${step}`);
    this.running.delete(`${generation}:${step}`);
    // The running sum, when it covers exactly the jobs accepted from this worker in
    // micro-batch order: the same float32 additions in the same order as below.
    const mine = accepted.filter((a) => a.worker === workerId).map((a) => a.firstStream);
    if (ahead && mine.length > 1 && mine.every((f) => held.has(f)) && ahead.order.length === mine.length && ahead.order.every((f, i) => f === mine[i])) {
      return { grads: ahead.sum, jobs: mine.length, missing: [] };
    }
    // The first accepted gradient is the accumulator (0 + g = g; the held gradients are released here anyway).
    let sum: NamedArrays | undefined;
    let jobs = 0;
    const missing: number[] = [];
    for (const { firstStream, worker } of accepted) {
      if (worker !== workerId) continue;
      const g = held.get(firstStream);
      if (!g) {
        missing.push(firstStream);
        continue;
      }
      if (sum === undefined) sum = g as NamedArrays;
      else accumulate(sum, g);
      jobs++;
    }
    return { grads: sum ?? this.zeros(), jobs, missing };
  }

  /** Forgets the gradients held for (generation, step) (an abort). */
  dropContribution(generation: number, step: number): void {
    this.contributions.delete(`${generation}:${step}`);
    this.running.delete(`${generation}:${step}`);
    this.writes.delete(`${generation}:${step}`);
  }

  /**
   * Takes ahead of time the copies the next staging needs — the optimizer's state
   * before the update (for a rollback) and a copy of the committed parameters to
   * update — so that they are off the critical path of the step: the executor calls
   * this while a window computes on the compute thread and the event loop is idle.
   * Both stay valid until the parameters or the optimizer change (commit, rollback).
   */
  prepareStaging(): void {
    if (this.stagedUpdate || this.prepared?.version === this.version) return;
    this.prepared = {
      version: this.version,
      optimizerBefore: this.optimizer.state(this.spareOptimizerState),
      params: stagingCopy(this.params),
    };
    this.spareOptimizerState = undefined;
  }

  /** The copies prepared for staging at the current version, handed out once; undefined when none are valid. */
  takePrepared(): PreparedStaging | undefined {
    const p = this.prepared;
    this.prepared = undefined;
    return p !== undefined && p.version === this.version && !this.stagedUpdate ? p : undefined;
  }

  /** Keeps the staged update of step `version` until its commit or abort. */
  stage(update: StagedUpdate): void {
    if (update.step !== this.version) throw new SessionError(`cannot stage step ${update.step}: parameters are at version ${this.version}`);
    if (this.stagedUpdate) this.rollback();
    this.stagedUpdate = update;
    // A job waiting for version `step + 1` may start on the staged parameters now (awaitParams).
    this.wake();
  }

  /** Swaps the staged parameters in: version step → step + 1. */
  commit(generation: number, step: number): void {
    const s = this.stagedUpdate;
    if (!s || s.generation !== generation || s.step !== step) {
      throw new SessionError(`commit of ${generation}/${step}: staged is ${s ? `${s.generation}/${s.step}` : 'nothing'}`);
    }
    this.stagedUpdate = undefined;
    this.params = s.params;
    this.spareOptimizerState = s.optimizerBefore;
    // With the compute thread the network's variables are never computed with here: they follow lazily (loadNet).
    if (!this.lazyNet) this.loadNet(this.params);
    if (s.skipped) this.counters.skipped++;
    if (s.clipped) this.counters.clipped++;
    this.version = step + 1;
    for (const key of [...this.contributions.keys()]) if (Number(key.split(':')[1]) <= step) this.contributions.delete(key);
    for (const map of [this.running, this.writes]) for (const key of [...map.keys()]) if (Number(key.split(':')[1]) <= step) map.delete(key);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Takes a committed state transferred from a member (state-snapshot.ts): the
   * parameters of `version` (the optimizer is loaded by the caller) and the counters.
   */
  restoreCommitted(params: NamedArrays, version: number, counters: { skipped: number; clipped: number }): void {
    this.params = params;
    this.version = version;
    this.counters.skipped = counters.skipped;
    this.counters.clipped = counters.clipped;
    this.prepared = undefined;
    if (!this.lazyNet) this.loadNet(params);
    this.wake();
  }

  /** Throws the staged update away and restores the optimizer's slots (an abort, a new generation). */
  rollback(): void {
    if (!this.stagedUpdate) return;
    this.optimizer.load(this.stagedUpdate.optimizerBefore);
    this.stagedUpdate = undefined;
    this.prepared = undefined;
  }

  /** Forgets the gradients of generations older than `generation`: their partial work is redone (DESIGN invariant 3). */
  dropGenerationsBefore(generation: number): void {
    for (const key of [...this.contributions.keys()]) if (Number(key.split(':')[0]) < generation) this.contributions.delete(key);
    for (const map of [this.running, this.writes]) for (const key of [...map.keys()]) if (Number(key.split(':')[0]) < generation) map.delete(key);
    if (this.stagedUpdate && this.stagedUpdate.generation < generation) this.rollback();
  }

  /**
   * Resolves once the committed parameters are at `step`. `heal` is called every
   * `pollMs` while waiting: it may apply a commit whose message was lost (the
   * commit itself is durable in the experiment record).
   */
  async awaitVersion(step: number, opts: VersionWait): Promise<void> {
    await this.waitUntil(step, opts, () => this.version >= step);
    if (this.version > step) throw new StaleStepError(`experiment ${this.id}: step ${step} is already committed (parameters at version ${this.version})`);
  }

  /**
   * The parameters of version `step` as soon as they exist: the committed ones at
   * version `step`, or — with `speculate` — the update of step `step − 1` staged
   * here in `generation` while it waits for its commit (speculative: a window may be
   * computed with them, but nothing of it may leave the worker before the commit of
   * step − 1 is applied and `params` is that very map; see window-executor.ts).
   */
  async awaitParams(step: number, generation: number, opts: VersionWait & { speculate: boolean }): Promise<{ params: NamedArrays; speculative: boolean }> {
    const staged = (): StagedUpdate | undefined => {
      const u = this.stagedUpdate;
      return opts.speculate && this.version === step - 1 && u !== undefined && u.step === step - 1 && u.generation === generation ? u : undefined;
    };
    await this.waitUntil(step, opts, () => this.version >= step || staged() !== undefined);
    if (this.version > step) throw new StaleStepError(`experiment ${this.id}: step ${step} is already committed (parameters at version ${this.version})`);
    const u = this.version === step ? undefined : staged();
    return u ? { params: u.params, speculative: true } : { params: this.params, speculative: false };
  }

  private async waitUntil(step: number, opts: VersionWait, done: () => boolean): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    while (!done()) {
      if (this.released) {
        throw new SessionReleasedError(
          `experiment ${this.id}: step ${step} will not be reached in this wait: the session was released${this.released.reloading ? ' to be loaded again' : ''} (parameters at version ${this.version})`,
          this.released.reloading,
        );
      }
      const reason = opts.cancelled?.();
      if (reason !== undefined) throw new StaleStepError(`experiment ${this.id}: step ${step} will not be reached in this wait: ${reason}`);
      if (Date.now() >= deadline) throw new VersionTimeoutError(`experiment ${this.id}: parameters are at version ${this.version}, step ${step} needs version ${step}; no commit arrived within ${opts.timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, opts.pollMs);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (!done()) await opts.heal();
    }
  }

  /** Wakes every awaitVersion wait to check its condition again (a new generation may have cancelled it). */
  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Frees the session; a wait on it (awaitVersion, awaitParams) ends with
   * SessionReleasedError — `reloading` when the worker loads the experiment again.
   */
  dispose(opts: { reloading?: boolean } = {}): void {
    this.released = { reloading: opts.reloading === true };
    this.wake();
    this.net.dispose();
    clearImmediate(this.summing);
    this.contributions.clear();
    this.running.clear();
    this.writes.clear();
    this.stagedUpdate = undefined;
  }

  /**
   * Brings the network's variables to `params` — the committed parameters, or a
   * staged update's (a speculative window, awaitParams) — before computing with
   * `net` on this thread; nothing is copied when they hold these already.
   */
  loadNet(params: NamedArrays = this.params): void {
    if (this.netParams === params) return;
    // As Trainer.writeParams, without leaking the temporaries.
    for (const spec of this.net.specs) {
      const t = tf.tensor(params.get(spec.name) as Float32Array, spec.shape);
      this.net.param(spec.name).assign(t);
      t.dispose();
    }
    this.netParams = params;
  }

  /** Zero gradients in the network's parameter order — the order every sum and norm over them runs in, on every member. */
  private zeros(): NamedArrays {
    return zerosLike(new Map(this.parameterOrder.map((n) => [n, (this.params.get(n) as Float32Array).length])));
  }
}
