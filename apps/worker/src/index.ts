/**
 * @unroll/worker — the pieces of the worker process, exported for the cross-app
 * tests (tests/distributed) and for `worker-main.ts`.
 */
export * from './cluster-channel';
export * from './hidden-state-layout';
export * from './staged-update';
export * from './reduction-layout';
export * from './experiment-session';
export * from './window-compute';
export * from './window-executor';
export * from './checkpoint-writer';
export * from './step-participant';
export * from './ring-collectives';
export * from './worker-node';
