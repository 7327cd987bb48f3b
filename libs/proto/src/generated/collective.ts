import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Abort as _unroll_v1_Abort, Abort__Output as _unroll_v1_Abort__Output } from './unroll/v1/Abort';
import type { Ack as _unroll_v1_Ack, Ack__Output as _unroll_v1_Ack__Output } from './unroll/v1/Ack';
import type { Chunk as _unroll_v1_Chunk, Chunk__Output as _unroll_v1_Chunk__Output } from './unroll/v1/Chunk';
import type { FetchStateRequest as _unroll_v1_FetchStateRequest, FetchStateRequest__Output as _unroll_v1_FetchStateRequest__Output } from './unroll/v1/FetchStateRequest';
import type { ReduceTag as _unroll_v1_ReduceTag, ReduceTag__Output as _unroll_v1_ReduceTag__Output } from './unroll/v1/ReduceTag';
import type { Reject as _unroll_v1_Reject, Reject__Output as _unroll_v1_Reject__Output } from './unroll/v1/Reject';
import type { RingClient as _unroll_v1_RingClient, RingDefinition as _unroll_v1_RingDefinition } from './unroll/v1/Ring';
import type { RingDownstream as _unroll_v1_RingDownstream, RingDownstream__Output as _unroll_v1_RingDownstream__Output } from './unroll/v1/RingDownstream';
import type { RingUpstream as _unroll_v1_RingUpstream, RingUpstream__Output as _unroll_v1_RingUpstream__Output } from './unroll/v1/RingUpstream';
import type { StateChunk as _unroll_v1_StateChunk, StateChunk__Output as _unroll_v1_StateChunk__Output } from './unroll/v1/StateChunk';
import type { Subscribe as _unroll_v1_Subscribe, Subscribe__Output as _unroll_v1_Subscribe__Output } from './unroll/v1/Subscribe';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  unroll: {
    v1: {
      Abort: MessageTypeDefinition<_unroll_v1_Abort, _unroll_v1_Abort__Output>
      Ack: MessageTypeDefinition<_unroll_v1_Ack, _unroll_v1_Ack__Output>
      Chunk: MessageTypeDefinition<_unroll_v1_Chunk, _unroll_v1_Chunk__Output>
      DType: EnumTypeDefinition
      FetchStateRequest: MessageTypeDefinition<_unroll_v1_FetchStateRequest, _unroll_v1_FetchStateRequest__Output>
      Phase: EnumTypeDefinition
      ReduceTag: MessageTypeDefinition<_unroll_v1_ReduceTag, _unroll_v1_ReduceTag__Output>
      Reject: MessageTypeDefinition<_unroll_v1_Reject, _unroll_v1_Reject__Output>
      /**
       * The ring all-reduce between data-parallel workers, and state transfer to a
       * member that joins.
       */
      Ring: SubtypeConstructor<typeof grpc.Client, _unroll_v1_RingClient> & { service: _unroll_v1_RingDefinition }
      RingDownstream: MessageTypeDefinition<_unroll_v1_RingDownstream, _unroll_v1_RingDownstream__Output>
      RingUpstream: MessageTypeDefinition<_unroll_v1_RingUpstream, _unroll_v1_RingUpstream__Output>
      StateChunk: MessageTypeDefinition<_unroll_v1_StateChunk, _unroll_v1_StateChunk__Output>
      Subscribe: MessageTypeDefinition<_unroll_v1_Subscribe, _unroll_v1_Subscribe__Output>
    }
  }
}

