// Original file: proto/unroll/v1/collective.proto

import type { ReduceTag as _unroll_v1_ReduceTag, ReduceTag__Output as _unroll_v1_ReduceTag__Output } from '../../unroll/v1/ReduceTag';

/**
 * A reduction failed on a neighbour; names the member blamed for it, so that the
 * failure travels round the ring and every member reports the same culprit.
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
  /**
   * True when failed_rank missed a deadline or lost its connection (a peer to
   * report); false when the reduction was refused (mismatched context or shape).
   */
  'peer_failure'?: (boolean);
}

/**
 * A reduction failed on a neighbour; names the member blamed for it, so that the
 * failure travels round the ring and every member reports the same culprit.
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
  /**
   * True when failed_rank missed a deadline or lost its connection (a peer to
   * report); false when the reduction was refused (mismatched context or shape).
   */
  'peer_failure': (boolean);
}
