/**
 * Loads `unroll/v1/collective.proto` at run time with @grpc/proto-loader and
 * returns the grpc-js package definition typed by the generated `ProtoGrpcType`.
 *
 * The loader options below must match the flags of the `generate` script in
 * package.json: the generated types describe exactly what these options decode
 * (snake_case field names, 64-bit integers as decimal strings, enums as their
 * names, defaults filled in, a virtual field naming the set member of a oneof).
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/collective';
import type { RingDownstream } from './generated/unroll/v1/RingDownstream';
import type { RingUpstream } from './generated/unroll/v1/RingUpstream';
import type { RingDownstream__Output } from './generated/unroll/v1/RingDownstream';
import { encodeRingDownstream, ringDownstreamDeserializer, scratchRingDownstreamSerializer } from './ring-downstream-codec';

/** Directory holding the .proto sources (`-I` of the generator). */
export const PROTO_ROOT = path.join(__dirname, '..', 'proto');

/** The collective's .proto file, relative to {@link PROTO_ROOT}. */
export const COLLECTIVE_PROTO_FILE = 'unroll/v1/collective.proto';

/** Loader options; keep in step with the `generate` script's flags. */
export const COLLECTIVE_PROTO_LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  /** Field names as written in the .proto (`total_elements`), as the generated types spell them. */
  keepCase: true,
  /** uint64 fields (generation, step, offsets) decode to decimal strings: exact beyond 2^53. */
  longs: String,
  /** Enums decode to their names (`'REDUCE_SCATTER'`), readable in errors and logs. */
  enums: String,
  /** bytes decode to Buffer (the default; stated for the reader). */
  bytes: Buffer,
  /** Omitted scalar fields decode to their zero value, so `__Output` types are non-optional. */
  defaults: true,
  /** A oneof gets a virtual field naming its set member (`body: 'chunk'`). */
  oneofs: true,
  includeDirs: [PROTO_ROOT],
});

let cached: ProtoGrpcType | undefined;
let standardSerializer: ((message: RingDownstream) => Buffer) | undefined;
let standardDeserializer: ((bytes: Buffer) => RingDownstream__Output) | undefined;

/**
 * Serializes `RingDownstream` into a fresh buffer (the hand-written chunk codec
 * of ring-downstream-codec.ts, protobufjs for anything else). `Ring.Stream`'s
 * `responseSerialize` reuses one buffer and is only safe where grpc-js frames
 * synchronously (the server side); a client that sends `RingDownstream` must
 * use this one.
 */
export function serializeRingDownstream(message: RingDownstream): Buffer {
  loadCollectiveProto();
  return encodeRingDownstream(message, standardSerializer as (message: RingDownstream) => Buffer);
}

/** protobufjs's own serializer of `RingDownstream` (tests compare the hand-written codec with it). */
export function standardSerializeRingDownstream(message: RingDownstream): Buffer {
  loadCollectiveProto();
  return (standardSerializer as (message: RingDownstream) => Buffer)(message);
}

/** protobufjs's own deserializer of `RingDownstream` (tests compare the hand-written codec with it). */
export function standardDeserializeRingDownstream(bytes: Buffer): RingDownstream__Output {
  loadCollectiveProto();
  return (standardDeserializer as (bytes: Buffer) => RingDownstream__Output)(bytes);
}

/** The typed `unroll.v1` grpc package (Ring service constructor and message types); loaded once. */
export function loadCollectiveProto(): ProtoGrpcType {
  if (cached === undefined) {
    const definition = protoLoader.loadSync(COLLECTIVE_PROTO_FILE, { ...COLLECTIVE_PROTO_LOADER_OPTIONS });
    // The server side of Ring.Stream sends the data: chunks are encoded by hand into a reused
    // scratch buffer and decoded by hand with the payload left in place (ring-downstream-codec.ts).
    const stream = (definition['unroll.v1.Ring'] as grpc.ServiceDefinition)['Stream'] as grpc.MethodDefinition<RingUpstream, RingDownstream>;
    standardSerializer = stream.responseSerialize;
    standardDeserializer = stream.responseDeserialize as (bytes: Buffer) => RingDownstream__Output;
    const codec = stream as { responseSerialize: (m: RingDownstream) => Buffer; responseDeserialize: (b: Buffer) => RingDownstream__Output };
    codec.responseSerialize = scratchRingDownstreamSerializer(stream.responseSerialize);
    codec.responseDeserialize = ringDownstreamDeserializer(standardDeserializer);
    cached = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  }
  return cached;
}
