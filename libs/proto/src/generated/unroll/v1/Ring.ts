// Original file: proto/unroll/v1/collective.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { FetchStateRequest as _unroll_v1_FetchStateRequest, FetchStateRequest__Output as _unroll_v1_FetchStateRequest__Output } from '../../unroll/v1/FetchStateRequest';
import type { RingDownstream as _unroll_v1_RingDownstream, RingDownstream__Output as _unroll_v1_RingDownstream__Output } from '../../unroll/v1/RingDownstream';
import type { RingUpstream as _unroll_v1_RingUpstream, RingUpstream__Output as _unroll_v1_RingUpstream__Output } from '../../unroll/v1/RingUpstream';
import type { StateChunk as _unroll_v1_StateChunk, StateChunk__Output as _unroll_v1_StateChunk__Output } from '../../unroll/v1/StateChunk';

/**
 * The ring all-reduce between data-parallel workers, and state transfer to a
 * member that joins.
 */
export interface RingClient extends grpc.Client {
  /**
   * A joining member pulls the parameters and optimizer state of an experiment
   * from a live member. One request, the state streamed back in chunks of at
   * most one message size, tensor after tensor. NOT_FOUND when the member holds
   * no state for the experiment; FAILED_PRECONDITION when the member has seen a
   * generation newer than the one requested (the joiner is stale).
   */
  FetchState(argument: _unroll_v1_FetchStateRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_unroll_v1_StateChunk__Output>;
  FetchState(argument: _unroll_v1_FetchStateRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_unroll_v1_StateChunk__Output>;
  /**
   * A joining member pulls the parameters and optimizer state of an experiment
   * from a live member. One request, the state streamed back in chunks of at
   * most one message size, tensor after tensor. NOT_FOUND when the member holds
   * no state for the experiment; FAILED_PRECONDITION when the member has seen a
   * generation newer than the one requested (the joiner is stale).
   */
  fetchState(argument: _unroll_v1_FetchStateRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_unroll_v1_StateChunk__Output>;
  fetchState(argument: _unroll_v1_FetchStateRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_unroll_v1_StateChunk__Output>;
  
  /**
   * One long-lived bidirectional stream per ring edge, opened by the receiving
   * member on its predecessor. The first request message must be `subscribe`;
   * after it the receiver sends `ack` per bucket received, `reject` when a chunk
   * does not match what it expected, `abort` when its own reduction failed. The
   * sender writes `chunk`s in the fixed order of the ring schedule, or an `abort`
   * when its reduction failed.
   * 
   * Status codes: PERMISSION_DENIED when the subscriber is not this member's
   * successor in the ring; FAILED_PRECONDITION when the subscriber's generation is
   * older than the sender's (stale) or a chunk was refused for its
   * (experiment, generation, step); INVALID_ARGUMENT when a chunk was refused for
   * its size, offset or dtype; ABORTED when the stream is superseded or the
   * member's reduction aborted; CANCELLED when the member closes.
   */
  Stream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_unroll_v1_RingUpstream, _unroll_v1_RingDownstream__Output>;
  Stream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_unroll_v1_RingUpstream, _unroll_v1_RingDownstream__Output>;
  /**
   * One long-lived bidirectional stream per ring edge, opened by the receiving
   * member on its predecessor. The first request message must be `subscribe`;
   * after it the receiver sends `ack` per bucket received, `reject` when a chunk
   * does not match what it expected, `abort` when its own reduction failed. The
   * sender writes `chunk`s in the fixed order of the ring schedule, or an `abort`
   * when its reduction failed.
   * 
   * Status codes: PERMISSION_DENIED when the subscriber is not this member's
   * successor in the ring; FAILED_PRECONDITION when the subscriber's generation is
   * older than the sender's (stale) or a chunk was refused for its
   * (experiment, generation, step); INVALID_ARGUMENT when a chunk was refused for
   * its size, offset or dtype; ABORTED when the stream is superseded or the
   * member's reduction aborted; CANCELLED when the member closes.
   */
  stream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_unroll_v1_RingUpstream, _unroll_v1_RingDownstream__Output>;
  stream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_unroll_v1_RingUpstream, _unroll_v1_RingDownstream__Output>;
  
}

/**
 * The ring all-reduce between data-parallel workers, and state transfer to a
 * member that joins.
 */
export interface RingHandlers extends grpc.UntypedServiceImplementation {
  /**
   * A joining member pulls the parameters and optimizer state of an experiment
   * from a live member. One request, the state streamed back in chunks of at
   * most one message size, tensor after tensor. NOT_FOUND when the member holds
   * no state for the experiment; FAILED_PRECONDITION when the member has seen a
   * generation newer than the one requested (the joiner is stale).
   */
  FetchState: grpc.handleServerStreamingCall<_unroll_v1_FetchStateRequest__Output, _unroll_v1_StateChunk>;
  
  /**
   * One long-lived bidirectional stream per ring edge, opened by the receiving
   * member on its predecessor. The first request message must be `subscribe`;
   * after it the receiver sends `ack` per bucket received, `reject` when a chunk
   * does not match what it expected, `abort` when its own reduction failed. The
   * sender writes `chunk`s in the fixed order of the ring schedule, or an `abort`
   * when its reduction failed.
   * 
   * Status codes: PERMISSION_DENIED when the subscriber is not this member's
   * successor in the ring; FAILED_PRECONDITION when the subscriber's generation is
   * older than the sender's (stale) or a chunk was refused for its
   * (experiment, generation, step); INVALID_ARGUMENT when a chunk was refused for
   * its size, offset or dtype; ABORTED when the stream is superseded or the
   * member's reduction aborted; CANCELLED when the member closes.
   */
  Stream: grpc.handleBidiStreamingCall<_unroll_v1_RingUpstream__Output, _unroll_v1_RingDownstream>;
  
}

export interface RingDefinition extends grpc.ServiceDefinition {
  FetchState: MethodDefinition<_unroll_v1_FetchStateRequest, _unroll_v1_StateChunk, _unroll_v1_FetchStateRequest__Output, _unroll_v1_StateChunk__Output>
  Stream: MethodDefinition<_unroll_v1_RingUpstream, _unroll_v1_RingDownstream, _unroll_v1_RingUpstream__Output, _unroll_v1_RingDownstream__Output>
}
