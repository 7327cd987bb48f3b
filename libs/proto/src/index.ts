/**
 * @unroll/proto — wire contracts of Unroll: the .proto files under `proto/`, the
 * TypeScript types generated from them (`npm run generate -w @unroll/proto`), and
 * their loader. No transport logic lives here.
 */
export {
  COLLECTIVE_PROTO_FILE,
  COLLECTIVE_PROTO_LOADER_OPTIONS,
  PROTO_ROOT,
  loadCollectiveProto,
  serializeRingDownstream,
  standardDeserializeRingDownstream,
  standardSerializeRingDownstream,
} from './load-collective-proto';
export { SCRATCH_MIN_PAYLOAD_BYTES, encodeRingDownstream, ringDownstreamDeserializer, scratchRingDownstreamSerializer } from './ring-downstream-codec';
export type { ProtoGrpcType as CollectiveProto } from './generated/collective';
export type { Abort, Abort__Output } from './generated/unroll/v1/Abort';
export type { Ack, Ack__Output } from './generated/unroll/v1/Ack';
export type { Chunk, Chunk__Output } from './generated/unroll/v1/Chunk';
export type { DType, DType__Output } from './generated/unroll/v1/DType';
export type { FetchStateRequest, FetchStateRequest__Output } from './generated/unroll/v1/FetchStateRequest';
export type { Phase, Phase__Output } from './generated/unroll/v1/Phase';
export type { ReduceTag, ReduceTag__Output } from './generated/unroll/v1/ReduceTag';
export type { Reject, Reject__Output } from './generated/unroll/v1/Reject';
export type { RingClient, RingDefinition, RingHandlers } from './generated/unroll/v1/Ring';
export type { RingDownstream, RingDownstream__Output } from './generated/unroll/v1/RingDownstream';
export type { RingUpstream, RingUpstream__Output } from './generated/unroll/v1/RingUpstream';
export type { StateChunk, StateChunk__Output } from './generated/unroll/v1/StateChunk';
export type { Subscribe, Subscribe__Output } from './generated/unroll/v1/Subscribe';
