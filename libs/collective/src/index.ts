/**
 * @unroll/collective — how data-parallel workers sum their gradients.
 *
 * `Collective` is the interface business code uses; `GrpcRingCollective` is the
 * ring all-reduce over gRPC between worker processes. The in-memory fake and the
 * conformance suite live in the `@unroll/collective/testing` entry point.
 */
export { COLLECTIVE_DEFAULTS, formatContext, sameContext, validateBuffers, validateReduceContext } from './collective';
export type { Collective, ReduceContext } from './collective';
export {
  CollectiveClosedError,
  CollectiveError,
  MessageRejectedError,
  PeerDeadlineError,
  ReductionAbortedError,
  StaleGenerationError,
} from './collective-errors';
export type { PeerRef } from './collective-errors';
export { GrpcRingCollective } from './grpc-ring-collective';
export type { GrpcRingCollectiveOptions, RingPeer } from './grpc-ring-collective';
export { RING_TRANSPORT_DEFAULTS } from './grpc-options';
export type { RingTlsOptions, RingTransportOptions } from './grpc-options';
export { RingServer, RING_SERVICE_NAME } from './ring-server';
export { fetchState } from './state-transfer';
export { probeRingPort, splitAddress } from './ring-probe';
export type { RingPortProbe } from './ring-probe';
export type { FetchStateOptions, StateSnapshot, StateSource, StateTensor } from './state-transfer';
export type { ReducerKind } from './reducer';

// The ring engine without its transport: for alternative transports and the
// benchmark (bench/allreduce runs it over raw TCP as the transport bound).
export { RingReduction } from './ring-reduction';
export type { RingReceiveEdge, RingReductionParams, RingSendEdge } from './ring-reduction';
export { receiveSchedule, ringRound, ringRounds, segmentChunks, segmentRange, sendSchedule } from './ring-schedule';
export type { RingChunk, RingPhase } from './ring-schedule';
export { createReducer } from './create-reducer';
export type { Reducer } from './reducer';
export { Deferred } from './deferred';
export { FailureListeners } from './failure-listeners';
export { INBOX_HIGH_WATER, MessageInbox } from './message-inbox';
export type { PausableSource } from './message-inbox';
