/**
 * @unroll/collective/testing — fakes and the conformance suite, for tests only.
 */
export { InMemoryCollective, InMemoryCollectiveHub } from './in-memory-collective';
export type { InMemoryCollectiveOptions } from './in-memory-collective';
export { describeCollectiveConformance } from './collective-conformance';
export type { CollectiveFactory, CollectiveGroup, CollectiveGroupOptions } from './collective-conformance';
