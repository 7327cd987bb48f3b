/**
 * @unroll/cluster — the state coordinator and workers share, behind narrow interfaces
 * (interfaces.ts), with Redis/BullMQ implementations here and in-memory ones plus
 * conformance suites in `@unroll/cluster/testing`.
 *
 *   connectRedis / checkRedis       one connection per process from REDIS_URL; noeviction check
 *   RedisMembershipStore            P:workers, P:worker:<id>, P:worker:<id>:alive (PX TTL)
 *   RedisExperimentStore            P:exp:<id> hash; commit/newGeneration are Lua CAS (generation = fencing token)
 *   RedisHiddenStateStore           P:exp:<E>:h:<first>:<count>:<step> bytes, P:exp:<E>:h-index zset
 *   RedisControlBus                 pub/sub channel P:exp:<E>:control, JSON validated on receipt
 *   BullWindowQueue                 queues P-steps (flow parents) and P-windows (window jobs)
 *   BullExperimentQueue             queue P-experiments
 *   workerThreads / workerShare     a worker's BLAS threads (its share of the host's cores; cgroup CPU limit)
 *   traceEvent                      timestamps of a step's events when UNROLL_TRACE_DIR is set (bench/cluster/step-trace.ts)
 *
 * P is the root prefix (default 'unroll'); every key, BullMQ's included, starts with `P:`.
 */
export * from './interfaces';
export * from './cluster-errors';
export * from './control-message';
export * from './hidden-state-codec';
export * from './window-job';
export { DEFAULT_PREFIX } from './lua-script';
export type { RedisStoreOptions } from './lua-script';
export * from './redis-connection';
export * from './redis-membership-store';
export * from './redis-experiment-store';
export * from './redis-hidden-state-store';
export * from './redis-control-bus';
export * from './bull-connection';
export * from './bull-window-queue';
export * from './bull-experiment-queue';
export * from './worker-threads';
export * from './step-trace';
