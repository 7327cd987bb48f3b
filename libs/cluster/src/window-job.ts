import { WindowJob, WindowResult } from './interfaces';

/**
 * Job ids of a step. They are deterministic so that re-submitting a step (a restarted
 * coordinator, a retried call) names the same jobs and the queue does not run them
 * twice while they are pending:
 *
 *   window job  `${experiment}:${generation}:${step}:${firstStream}`
 *   step (flow parent)  `${experiment}:${generation}:${step}`
 */
export function windowJobId(job: WindowJob): string {
  return `${job.experiment}:${job.generation}:${job.step}:${job.firstStream}`;
}

export function stepJobId(job: Pick<WindowJob, 'experiment' | 'generation' | 'step'>): string {
  return `${job.experiment}:${job.generation}:${job.step}`;
}

/**
 * Checks the jobs of one runStep call: at least one, all of one (experiment,
 * generation, step), integer fields, distinct first streams. Returns the step id.
 */
export function validateStepJobs(jobs: readonly WindowJob[]): string {
  if (jobs.length === 0) throw new TypeError('runStep expects at least one window job, got 0');
  const first = jobs[0];
  const seen = new Set<number>();
  for (const [i, job] of jobs.entries()) {
    if (typeof job.experiment !== 'string' || job.experiment.length === 0) {
      throw new TypeError(`jobs[${i}].experiment must be a non-empty string, got ${JSON.stringify(job.experiment)}`);
    }
    for (const field of ['generation', 'step', 'firstStream', 'streams'] as const) {
      const v = job[field];
      if (!Number.isInteger(v) || v < 0 || (field === 'streams' && v === 0)) {
        throw new TypeError(`jobs[${i}].${field} must be a ${field === 'streams' ? 'positive' : 'non-negative'} integer, got ${String(v)}`);
      }
    }
    if (job.experiment !== first.experiment || job.generation !== first.generation || job.step !== first.step) {
      throw new TypeError(
        `runStep expects the jobs of one step; jobs[${i}] is ${stepJobId(job)} but jobs[0] is ${stepJobId(first)}`,
      );
    }
    if (seen.has(job.firstStream)) throw new TypeError(`jobs[${i}] repeats firstStream ${job.firstStream} of step ${stepJobId(job)}`);
    seen.add(job.firstStream);
  }
  return stepJobId(first);
}

/** Validates a job read back from a queue (it crossed a process boundary as JSON). */
export function parseWindowJob(data: unknown): WindowJob {
  const o = data as Partial<Record<keyof WindowJob, unknown>> | null;
  if (
    o === null ||
    typeof o !== 'object' ||
    typeof o.experiment !== 'string' ||
    !Number.isInteger(o.generation) ||
    !Number.isInteger(o.step) ||
    !Number.isInteger(o.firstStream) ||
    !Number.isInteger(o.streams)
  ) {
    throw new TypeError(`not a window job: ${JSON.stringify(data)}`);
  }
  return {
    experiment: o.experiment,
    generation: o.generation as number,
    step: o.step as number,
    firstStream: o.firstStream as number,
    streams: o.streams as number,
  };
}

/**
 * Validates a result read back from a queue. A NaN or infinite loss (a diverging
 * window) crosses JSON as null and comes back as NaN, for the caller's NaN check.
 */
export function parseWindowResult(data: unknown, what: string): WindowResult {
  const o = data as Partial<Record<keyof WindowResult, unknown>> | null;
  const num = (v: unknown): boolean => typeof v === 'number' || v === null;
  if (o === null || typeof o !== 'object' || !num(o.lossSum) || typeof o.count !== 'number' || typeof o.worker !== 'string' || !num(o.computeSeconds)) {
    throw new TypeError(`${what} is not a WindowResult {lossSum, count, worker, computeSeconds}: ${JSON.stringify(data)}`);
  }
  if (o.startedAt !== undefined && typeof o.startedAt !== 'number') {
    throw new TypeError(`${what}: startedAt must be ms since epoch, got ${JSON.stringify(o.startedAt)}`);
  }
  return {
    lossSum: o.lossSum === null ? Number.NaN : (o.lossSum as number),
    count: o.count,
    worker: o.worker,
    computeSeconds: o.computeSeconds === null ? Number.NaN : (o.computeSeconds as number),
    ...(o.startedAt !== undefined ? { startedAt: o.startedAt } : {}),
  };
}
