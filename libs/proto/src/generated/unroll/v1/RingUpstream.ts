// Original file: proto/unroll/v1/collective.proto

import type { Subscribe as _unroll_v1_Subscribe, Subscribe__Output as _unroll_v1_Subscribe__Output } from '../../unroll/v1/Subscribe';
import type { Ack as _unroll_v1_Ack, Ack__Output as _unroll_v1_Ack__Output } from '../../unroll/v1/Ack';
import type { Reject as _unroll_v1_Reject, Reject__Output as _unroll_v1_Reject__Output } from '../../unroll/v1/Reject';
import type { Abort as _unroll_v1_Abort, Abort__Output as _unroll_v1_Abort__Output } from '../../unroll/v1/Abort';

/**
 * Receiver to sender.
 */
export interface RingUpstream {
  /**
   * First message of every stream: who is subscribing, for which generation.
   */
  'subscribe'?: (_unroll_v1_Subscribe | null);
  /**
   * A bucket was received completely and validated.
   */
  'ack'?: (_unroll_v1_Ack | null);
  /**
   * The receiver refused a chunk; the sender ends the stream with `code`.
   */
  'reject'?: (_unroll_v1_Reject | null);
  /**
   * The receiver's reduction failed; the sender fails the same step.
   */
  'abort'?: (_unroll_v1_Abort | null);
  'body'?: "subscribe"|"ack"|"reject"|"abort";
}

/**
 * Receiver to sender.
 */
export interface RingUpstream__Output {
  /**
   * First message of every stream: who is subscribing, for which generation.
   */
  'subscribe'?: (_unroll_v1_Subscribe__Output | null);
  /**
   * A bucket was received completely and validated.
   */
  'ack'?: (_unroll_v1_Ack__Output | null);
  /**
   * The receiver refused a chunk; the sender ends the stream with `code`.
   */
  'reject'?: (_unroll_v1_Reject__Output | null);
  /**
   * The receiver's reduction failed; the sender fails the same step.
   */
  'abort'?: (_unroll_v1_Abort__Output | null);
  'body'?: "subscribe"|"ack"|"reject"|"abort";
}
