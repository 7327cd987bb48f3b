/**
 * @unroll/coordinator — the pieces of the coordinator process, exported for the
 * cross-app tests (tests/distributed) and for `coordinator-main.ts`.
 */
export * from './cluster-channel';
export * from './membership-watcher';
export * from './report-collector';
export * from './step-driver';
export * from './experiment-runner';
