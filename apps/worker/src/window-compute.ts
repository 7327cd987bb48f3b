/**
 * Where a window's forward and backward pass runs. windowGradients is synchronous
 * on the tfjs cpu and wasm backends, so on the event loop a window blocks it for its
 * whole compute time (worker-node.ts has the measurements); DESIGN: "Compute never
 * blocks the event loop that serves the ring and renews queue locks."
 *
 *   InlineWindowCompute  on the calling thread, with the session's network (unit
 *                        tests, and `--compute inline`).
 *   ThreadWindowCompute  on one worker_threads thread per worker process, with its
 *                        own tfjs (the same backend), its own copy of each
 *                        experiment's data and network. The protocol with the
 *                        thread (compute-thread.ts), one request at a time:
 *                          1. main → thread: the window (experiment id and spec,
 *                             streams, start, k2, k1, the input state) and — only
 *                             when the thread's copy holds other ones — the
 *                             parameters of the job's version s (committed, or
 *                             staged for their commit: a speculative window);
 *                          2. the thread builds the experiment on first use (same
 *                             seed, same data), loads the parameters into its
 *                             network, runs windowGradients;
 *                          3. thread → main: loss sum, count, the gradient in the
 *                             network's parameter order and the carried state, as
 *                             transferred buffers (no copy).
 *                        Same backend, same parameters, same ops: the same bytes as
 *                        inline (tested). Parameters change once per step, so they
 *                        cross once per step; a thread that dies fails the jobs in
 *                        flight (the queue retries them) and is restarted.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { windowGradients, type NamedArrays } from '@unroll/bptt';
import type { NetworkState } from '@unroll/models';
import type { ExperimentSession } from './experiment-session';

/** One window of one job, as the executor asks for it. */
export interface WindowRequest {
  firstStream: number;
  streams: number;
  /** Position of the window's first step in every stream. */
  start: number;
  /** The version the job computes with (= its step). */
  version: number;
  /**
   * The parameters of that version: the committed ones, or the staged update that
   * will become them at its commit (a speculative window, window-executor.ts).
   */
  params: NamedArrays;
  state: NetworkState;
}

export interface WindowOutput {
  lossSum: number;
  count: number;
  grads: NamedArrays;
  carry: NetworkState;
}

export interface WindowCompute {
  compute(session: ExperimentSession, request: WindowRequest): Promise<WindowOutput>;
  /** Forgets what it holds of an experiment. */
  release(experiment: string): void;
  close(): Promise<void>;
}

/** The options of windowGradients for a session's schedule. */
function windowOptions(session: ExperimentSession): { k2: number; scoredFrom: number; carryAt: number } {
  const { window: k2, stride: k1 } = session.schedule.config;
  return { k2, scoredFrom: session.schedule.scoredFrom, carryAt: k1 - 1 };
}

export class InlineWindowCompute implements WindowCompute {
  async compute(session: ExperimentSession, r: WindowRequest): Promise<WindowOutput> {
    const { k2, scoredFrom, carryAt } = windowOptions(session);
    session.loadNet(r.params);
    const out = windowGradients(session.net, session.data.train.window(r.firstStream, r.streams, r.start, k2), r.state, { loss: session.spec.spec.loss, scoredFrom, carryAt });
    return { lossSum: out.lossSum, count: out.count, grads: out.grads, carry: out.carry };
  }

  release(): void {
    // nothing held: the session's network is the session's
  }

  async close(): Promise<void> {
    // nothing to stop
  }
}

/** A request as it crosses to the thread. */
export interface ThreadRequest {
  seq: number;
  kind: 'window';
  experiment: string;
  specYaml: string;
  dataRoot: string;
  version: number;
  /** The parameters of `version`, in the network's order, when the thread's copy holds other ones. */
  params?: Array<[string, Float32Array]>;
  firstStream: number;
  streams: number;
  start: number;
  k2: number;
  scoredFrom: number;
  carryAt: number;
  state: NetworkState;
}

export type ThreadReply =
  | { seq: number; ok: true; lossSum: number; count: number; grads: Array<[string, Float32Array]>; carry: NetworkState }
  | { seq: number; ok: false; error: string };

/** The thread failed or exited; the job fails and the queue retries it. */
export class ComputeThreadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComputeThreadError';
  }
}

export interface ThreadWindowComputeOptions {
  /** The backend the thread selects (the one the worker advertises). */
  backend: string;
  /** Root the specs' data paths are resolved under. */
  dataRoot: string;
  /** The thread's name in a step trace (step-trace.ts in @unroll/cluster). */
  traceAs?: string;
}

export class ThreadWindowCompute implements WindowCompute {
  private thread: Worker | undefined;
  private ready: Promise<void> | undefined;
  private seq = 0;
  private readonly pending = new Map<number, { resolve(r: ThreadReply): void; reject(e: Error): void }>();
  /** The parameters each experiment's network in the thread holds (by identity: a staged update's map, then the same map committed). */
  private readonly loaded = new Map<string, NamedArrays>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ThreadWindowComputeOptions) {}

  compute(session: ExperimentSession, r: WindowRequest): Promise<WindowOutput> {
    // One request at a time: the thread computes one window at a time anyway, and parameters go with the first of a version.
    const run = this.chain.then(() => this.send(session, r));
    this.chain = run.catch(() => undefined);
    return run;
  }

  release(experiment: string): void {
    this.loaded.delete(experiment);
    this.thread?.postMessage({ kind: 'release', experiment });
  }

  async close(): Promise<void> {
    const t = this.thread;
    this.thread = undefined;
    this.ready = undefined;
    if (t) await t.terminate();
  }

  private async send(session: ExperimentSession, r: WindowRequest): Promise<WindowOutput> {
    const thread = await this.start();
    const seq = ++this.seq;
    const sendParams = this.loaded.get(session.id) !== r.params;
    const request: ThreadRequest = {
      seq,
      kind: 'window',
      experiment: session.id,
      specYaml: session.specYaml,
      dataRoot: this.options.dataRoot,
      version: r.version,
      params: sendParams ? session.parameterOrder.map((name) => [name, r.params.get(name) as Float32Array]) : undefined,
      firstStream: r.firstStream,
      streams: r.streams,
      start: r.start,
      ...windowOptions(session),
      state: r.state,
    };
    thread.ref(); // a window in flight keeps the process alive; an idle thread does not
    const reply = await new Promise<ThreadReply>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      // Committed and staged parameters live on SharedArrayBuffers (staged-update.ts stagingCopy), never
      // written once staged: shared, not copied — except version 0's, which the network made; the state is copied (small).
      thread.postMessage(request);
    }).finally(() => {
      if (this.pending.size === 0) thread.unref();
    });
    if (!reply.ok) {
      this.loaded.delete(session.id);
      throw new ComputeThreadError(`compute thread: ${reply.error}`);
    }
    this.loaded.set(session.id, r.params);
    return { lossSum: reply.lossSum, count: reply.count, grads: new Map(reply.grads), carry: reply.carry };
  }

  private start(): Promise<Worker> {
    if (this.thread && this.ready) {
      const t = this.thread;
      return this.ready.then(() => t);
    }
    const thread = new Worker(path.join(__dirname, 'compute-thread-entry.js'), { workerData: { backend: this.options.backend, traceAs: this.options.traceAs } });
    this.thread = thread;
    this.loaded.clear();
    this.ready = new Promise<void>((resolve, reject) => {
      thread.once('message', (m: { ready?: boolean; error?: string }) => (m.ready ? resolve() : reject(new ComputeThreadError(`compute thread did not start: ${m.error ?? 'unknown'}`))));
      thread.once('error', reject);
    });
    thread.on('message', (m: ThreadReply | { ready: boolean }) => {
      if (!('seq' in m)) return;
      const p = this.pending.get(m.seq);
      this.pending.delete(m.seq);
      p?.resolve(m);
    });
    const fail = (e: Error): void => {
      if (this.thread === thread) {
        this.thread = undefined;
        this.ready = undefined;
      }
      for (const [seq, p] of this.pending) {
        this.pending.delete(seq);
        p.reject(e);
      }
    };
    thread.on('error', (e) => fail(new ComputeThreadError(`compute thread failed: ${e.message}`)));
    thread.on('exit', (code) => fail(new ComputeThreadError(`compute thread exited with code ${code}`)));
    const ready = this.ready;
    // Idle, it never keeps the process alive on its own; starting, and with a window in flight (send), it does.
    ready.then(() => this.pending.size === 0 && thread.unref(), () => undefined);
    ready.catch(() => undefined);
    return ready.then(() => thread);
  }
}
