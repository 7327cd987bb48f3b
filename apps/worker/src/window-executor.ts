/**
 * One window job on a worker (DESIGN "One training step", step 3):
 *
 *   1. fence: refuse a job whose generation is not the experiment record's current
 *      one (an older generation's work is thrown away, invariant 4), and hand back a
 *      job of a generation this worker is not a member of (its gradient could not be
 *      reduced; WindowJobElsewhereError: the queue offers it to another worker
 *      without using an attempt);
 *   2. wait until the local parameters are at version `step` (commits are applied
 *      in order; a lost commit message is healed from the record; a newer
 *      generation ends the wait: the job is refused);
 *   3. load the hidden state of streams [first, first + count) at step s from the
 *      HiddenStateStore (zeros at an epoch's first window) — read together with
 *      the record of step 1, in one round trip;
 *   4. run the window: forward over k2 steps, loss on the newest k1, backward
 *      (then, on a worker started with --throttle-ms N, sleep N ms: a slow device);
 *   5. write the carried state under step s + 1 — a new key, never the input's —
 *      without waiting for the write: the step's reduce waits for it before this
 *      worker reports (ExperimentSession.trackWrite / flushWrites);
 *   6. keep the gradient on this worker, under (generation, step, first stream),
 *      until the step's reduce — it never leaves the worker in a job payload, and
 *      it is reduced only if the queue accepts this worker's result for the job
 *      (experiment-session.ts, "Exactly-once contributions");
 *   7. return loss sum, token count, worker id, compute seconds and when the job
 *      was received (startedAt, for the coordinator's queue wait).
 *
 * Same inputs (parameters of version s, stored state of step s) give the same bytes
 * (invariant 2): running a job twice rewrites identical state, and the gradient of
 * a job counts once however many times and wherever it ran.
 */
import type { NamedArrays } from '@unroll/bptt';
import { traceEvent, WindowJobElsewhereError, type ExperimentStore, type HiddenStateStore, type WindowJob, type WindowResult } from '@unroll/cluster';
import type { ExperimentSession } from './experiment-session';
import { packState } from './hidden-state-layout';
import { InlineWindowCompute, type WindowCompute } from './window-compute';

export class WindowJobRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WindowJobRefusedError';
  }
}

/** What the executor needs from the worker around it. */
export interface WindowExecutorContext {
  workerId: string;
  experiments: Pick<ExperimentStore, 'get'>;
  states: Pick<HiddenStateStore, 'get' | 'put'>;
  /** The worker's session of the experiment, loaded on first use. */
  session(experiment: string): Promise<ExperimentSession>;
  /** Waits until the session's parameters are at version `step` (see ExperimentSession.awaitVersion). */
  awaitVersion(session: ExperimentSession, step: number, generation: number): Promise<void>;
  /**
   * Waits for the parameters of version `step`, committed or staged here for their
   * commit (ExperimentSession.awaitParams). Absent: jobs compute on committed
   * parameters only.
   */
  awaitParams?(session: ExperimentSession, step: number, generation: number): Promise<{ params: NamedArrays; speculative: boolean }>;
  /** Diagnostic: ms to sleep after computing each window, counted in computeSeconds (WorkerNodeOptions.throttleMs). @defaultValue 0 */
  throttleMs?: number;
  /** Where the window runs (window-compute.ts). @defaultValue inline, on the calling thread */
  compute?: WindowCompute;
  /**
   * The generation of `experiment` this worker has taken on and its members, when it
   * has one (StepParticipant). A generation's members never change, so a job of that
   * generation for a worker outside it is handed back before any Redis read.
   */
  knownGeneration?(experiment: string): { generation: number; members: readonly string[] } | undefined;
}

const INLINE = new InlineWindowCompute();

function elsewhere(where: string, workerId: string, g: { generation: number; members: readonly string[] }): WindowJobElsewhereError {
  return new WindowJobElsewhereError(`${where}: worker ${workerId} is not a member of generation ${g.generation} (${g.members.join(', ')})`);
}

export async function executeWindow(ctx: WindowExecutorContext, job: WindowJob): Promise<WindowResult> {
  const startedAt = Date.now();
  traceEvent('job.received', { g: job.generation, s: job.step, first: job.firstStream });
  const where = `window job ${job.experiment}/g${job.generation}/s${job.step}/streams ${job.firstStream}+${job.streams}`;
  const known = ctx.knownGeneration?.(job.experiment);
  if (known && known.generation === job.generation && !known.members.includes(ctx.workerId)) throw elsewhere(where, ctx.workerId, known);
  // The record (for the fence) and the stored state are read in one round trip: the
  // state's key exists from the previous step's commit on. At an epoch's first window
  // the value is ignored (zeros); a refused job simply drops it.
  const storedRead = ctx.states.get(job.experiment, job.firstStream, job.streams, job.step);
  storedRead.catch(() => undefined); // awaited below unless the job is refused first
  const record = await ctx.experiments.get(job.experiment);
  if (!record) throw new WindowJobRefusedError(`${where}: experiment does not exist`);
  // A step left behind by a run that ended (failed, cancelled, or succeeded after a recovery withdrew it) is not computed.
  if (record.status !== 'running') throw new WindowJobRefusedError(`${where}: the experiment is ${record.status}`);
  if (job.generation !== record.generation) throw new WindowJobRefusedError(`${where}: generation ${job.generation} is not the experiment's current generation ${record.generation}`);
  // A member must run it: the queue offers it again without using an attempt (a cluster may have more workers than the ring).
  if (!record.members.includes(ctx.workerId)) throw elsewhere(where, ctx.workerId, record);

  const session = await ctx.session(job.experiment);
  const plan = session.schedule.windowAt(job.step);
  let speculate = ctx.awaitParams !== undefined;
  let read: Promise<Float32Array[] | undefined> | undefined = storedRead;
  // The state at window s was written by step s − 1's jobs on version s − 1: whatever update of step s − 1 is committed, it stays valid.
  let stored: Float32Array[] | undefined;
  for (;;) {
    // A job enqueued ahead (step s + 1 while step s reduces) waits here for the
    // parameters of version s + 1: the commit of step s, or — speculating — the update
    // of step s staged on this worker, which the commit will swap in unchanged (below).
    // The state it read before may not have been written yet (the writes of step s are
    // flushed before the reports): if it was absent, it is read again after the wait.
    // A value that was present is the right one: every write of that key comes from a
    // run of the same job on parameters of version s — the same bytes (invariant 2),
    // whichever run or generation wrote it.
    const early = session.version < job.step;
    let source: { params: NamedArrays; speculative: boolean };
    if (speculate && ctx.awaitParams) {
      source = await ctx.awaitParams(session, job.step, job.generation);
    } else {
      await ctx.awaitVersion(session, job.step, job.generation);
      source = { params: session.params, speculative: false };
    }
    if (plan.index > 0 && stored === undefined) {
      stored = await (read ?? ctx.states.get(job.experiment, job.firstStream, job.streams, job.step)).catch((e: unknown) => {
        if (early) return undefined;
        throw e;
      });
      read = undefined; // a second pass reads it afresh
      if (early && stored === undefined) stored = await ctx.states.get(job.experiment, job.firstStream, job.streams, job.step);
      // Speculating, the state may come from a member that has not reported yet: wait for the commit, which follows every write.
      if (stored === undefined && source.speculative) {
        speculate = false;
        continue;
      }
    }
    const state = session.stateAt(job.firstStream, job.streams, job.step, stored);
    if (!source.speculative && session.version !== job.step) throw new WindowJobRefusedError(`${where}: parameters moved to version ${session.version} while the job waited`);

    const t0 = performance.now();
    traceEvent('job.compute', { g: job.generation, s: job.step, first: job.firstStream, speculative: source.speculative });
    const computing = (ctx.compute ?? INLINE).compute(session, { firstStream: job.firstStream, streams: job.streams, start: plan.start, version: job.step, params: source.params, state });
    // Speculating, the commit of step s − 1 is awaited while the window computes; once
    // it is in, the copies the next staging needs are taken (prepareStaging).
    const committed = source.speculative ? ctx.awaitVersion(session, job.step, job.generation) : undefined;
    committed?.then(
      () => void setImmediate(() => session.prepareStaging()),
      () => undefined,
    );
    // While the window computes (on the compute thread), copy what the step's staging will need.
    const preparing = source.speculative ? undefined : setImmediate(() => session.prepareStaging());
    const out = await computing.finally(() => clearImmediate(preparing));
    // A throttled worker emulates a slower device: the window takes longer, the event loop stays free.
    if (ctx.throttleMs) await new Promise((resolve) => setTimeout(resolve, ctx.throttleMs));
    const computeSeconds = (performance.now() - t0) / 1000;
    traceEvent('job.computed', { g: job.generation, s: job.step, first: job.firstStream });
    if (committed) {
      // Nothing of a speculative window leaves the worker before its parameters are
      // committed: the commit of step s − 1 must have swapped in the very update it
      // computed with. An update aborted and staged again (another generation redid
      // step s − 1) is another map: the window is computed again, on the committed one.
      await committed;
      if (session.params !== source.params) {
        traceEvent('job.respeculate', { g: job.generation, s: job.step, first: job.firstStream });
        speculate = false;
        continue;
      }
    }

    // The write of the carried state is not waited for here: the result goes back to
    // the queue at once, and the step's reduce flushes the write before this worker
    // reports (StepParticipant) — so it is stored before the coordinator can commit,
    // i.e. before any job of step s + 1 can read it.
    session.trackWrite(job.generation, job.step, ctx.states.put(job.experiment, job.firstStream, job.streams, job.step + 1, packState(out.carry)));
    session.addContribution(job.generation, job.step, job.firstStream, out.grads);
    traceEvent('job.return', { g: job.generation, s: job.step, first: job.firstStream });
    return { lossSum: out.lossSum, count: out.count, worker: ctx.workerId, computeSeconds, startedAt };
  }
}
