// Original file: proto/unroll/v1/collective.proto

import type { ReduceTag as _unroll_v1_ReduceTag, ReduceTag__Output as _unroll_v1_ReduceTag__Output } from '../../unroll/v1/ReduceTag';

/**
 * Acknowledges a bucket: every chunk of it was received, checked and applied.
 */
export interface Ack {
  /**
   * (experiment, generation, step) of the reduction.
   */
  'tag'?: (_unroll_v1_ReduceTag | null);
  /**
   * Bucket index acknowledged.
   */
  'bucket'?: (number);
}

/**
 * Acknowledges a bucket: every chunk of it was received, checked and applied.
 */
export interface Ack__Output {
  /**
   * (experiment, generation, step) of the reduction.
   */
  'tag': (_unroll_v1_ReduceTag__Output | null);
  /**
   * Bucket index acknowledged.
   */
  'bucket': (number);
}
