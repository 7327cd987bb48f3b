// Original file: proto/unroll/v1/collective.proto

import type { Long } from '@grpc/proto-loader';

/**
 * A refused chunk: why, and which gRPC status the sender should end the stream with.
 */
export interface Reject {
  /**
   * grpc.status code number (FAILED_PRECONDITION = 9, INVALID_ARGUMENT = 3).
   */
  'code'?: (number);
  /**
   * Human-readable reason naming the field, the expected and the received value.
   */
  'reason'?: (string);
  /**
   * The receiver's generation, so the sender can tell whether it is the stale one.
   */
  'generation'?: (number | string | Long);
}

/**
 * A refused chunk: why, and which gRPC status the sender should end the stream with.
 */
export interface Reject__Output {
  /**
   * grpc.status code number (FAILED_PRECONDITION = 9, INVALID_ARGUMENT = 3).
   */
  'code': (number);
  /**
   * Human-readable reason naming the field, the expected and the received value.
   */
  'reason': (string);
  /**
   * The receiver's generation, so the sender can tell whether it is the stale one.
   */
  'generation': (string);
}
