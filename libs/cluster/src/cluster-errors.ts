/**
 * The errors of the cluster layer, one small class per cause, all under ClusterError
 * so a caller can tell "the shared state refused this" from a bug or a network error.
 */
export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A write named an older generation or a step that is not the current one (DESIGN invariant 4). */
export class FencingError extends ClusterError {}

/** The experiment record does not exist. */
export class ExperimentNotFoundError extends ClusterError {
  constructor(readonly experiment: string) {
    super(`experiment ${JSON.stringify(experiment)} does not exist`);
  }
}

/** create() of an experiment whose record already exists. */
export class ExperimentExistsError extends ClusterError {
  constructor(readonly experiment: string) {
    super(`experiment ${JSON.stringify(experiment)} already exists`);
  }
}

/** Stored bytes that do not decode (a hidden state, an experiment record). */
export class CorruptStateError extends ClusterError {}

/** A window job failed on its last attempt; runStep rejects with it. */
export class WindowJobFailedError extends ClusterError {
  constructor(readonly jobId: string, readonly attempts: number, readonly reason: string) {
    super(`window job ${jobId} failed after ${attempts} attempt(s): ${reason}`);
  }
}

/**
 * Thrown by a consumer's handler for a job that another consumer must run (this
 * worker is not a member of the job's generation): the queue puts the job back, to be
 * offered again after `retryAfterMs`, without using one of its attempts — a cluster
 * with more workers than an experiment's ring must not fail the experiment's jobs.
 */
export class WindowJobElsewhereError extends ClusterError {
  constructor(
    message: string,
    readonly retryAfterMs = 20,
  ) {
    super(message);
  }
}

/** runStep did not finish within its timeoutMs. */
export class StepTimeoutError extends ClusterError {
  constructor(readonly stepId: string, readonly timeoutMs: number) {
    super(`step ${stepId} did not finish within ${timeoutMs} ms`);
  }
}

/** The step was withdrawn by its caller (runStep's signal) before it finished. */
export class StepWithdrawnError extends ClusterError {
  constructor(readonly stepId: string) {
    super(`step ${stepId} was withdrawn`);
  }
}

/** The queue was closed while a call was pending or after it was closed. */
export class QueueClosedError extends ClusterError {}

/** Redis is unreachable or misconfigured; the message says how to fix it. */
export class RedisSetupError extends ClusterError {}
