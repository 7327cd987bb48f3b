/**
 * In-memory implementations of every cluster interface, for unit tests of code that
 * uses them, and the conformance suites every implementation must pass.
 * Import from `@unroll/cluster/testing`.
 */
export * from './in-memory-membership-store';
export * from './in-memory-experiment-store';
export * from './in-memory-hidden-state-store';
export * from './in-memory-control-bus';
export * from './in-memory-window-queue';
export * from './in-memory-experiment-queue';
export * from './conformance-helpers';
export * from './redis-test-env';
export * from './membership-store-conformance';
export * from './experiment-store-conformance';
export * from './hidden-state-store-conformance';
export * from './control-bus-conformance';
export * from './window-queue-conformance';
export * from './experiment-queue-conformance';
