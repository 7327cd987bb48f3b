// Original file: proto/unroll/v1/collective.proto

import type { Chunk as _unroll_v1_Chunk, Chunk__Output as _unroll_v1_Chunk__Output } from '../../unroll/v1/Chunk';
import type { Abort as _unroll_v1_Abort, Abort__Output as _unroll_v1_Abort__Output } from '../../unroll/v1/Abort';

/**
 * Sender to receiver.
 */
export interface RingDownstream {
  /**
   * A piece of one segment of one bucket in one ring round.
   */
  'chunk'?: (_unroll_v1_Chunk | null);
  /**
   * The sender's reduction failed; the receiver fails the same step.
   */
  'abort'?: (_unroll_v1_Abort | null);
  'body'?: "chunk"|"abort";
}

/**
 * Sender to receiver.
 */
export interface RingDownstream__Output {
  /**
   * A piece of one segment of one bucket in one ring round.
   */
  'chunk'?: (_unroll_v1_Chunk__Output | null);
  /**
   * The sender's reduction failed; the receiver fails the same step.
   */
  'abort'?: (_unroll_v1_Abort__Output | null);
  'body'?: "chunk"|"abort";
}
