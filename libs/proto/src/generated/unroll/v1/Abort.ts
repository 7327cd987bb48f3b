// Original file: proto/unroll/v1/collective.proto

import type { ReduceTag as _unroll_v1_ReduceTag, ReduceTag__Output as _unroll_v1_ReduceTag__Output } from '../../unroll/v1/ReduceTag';

/**
 * A reduction failed upstream; names the member that failed it when known.
 */
export interface Abort {
  /**
   * (experiment, generation, step) of the failed reduction.
   */
  'tag'?: (_unroll_v1_ReduceTag | null);
  /**
   * Rank of the member blamed for the failure.
   */
  'failed_rank'?: (number);
  /**
   * Address of that member.
   */
  'failed_address'?: (string);
  /**
   * Why the reduction failed.
   */
  'reason'?: (string);
}

/**
 * A reduction failed upstream; names the member that failed it when known.
 */
export interface Abort__Output {
  /**
   * (experiment, generation, step) of the failed reduction.
   */
  'tag': (_unroll_v1_ReduceTag__Output | null);
  /**
   * Rank of the member blamed for the failure.
   */
  'failed_rank': (number);
  /**
   * Address of that member.
   */
  'failed_address': (string);
  /**
   * Why the reduction failed.
   */
  'reason': (string);
}
