// Original file: proto/unroll/v1/collective.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Opens a ring edge.
 */
export interface Subscribe {
  /**
   * Experiment whose reductions this stream carries.
   */
  'experiment'?: (string);
  /**
   * Generation the subscriber is in; older than the sender's is refused.
   */
  'generation'?: (number | string | Long);
  /**
   * Rank of the subscriber; must be the sender's successor in the ring.
   */
  'rank'?: (number);
  /**
   * Ring size the subscriber was configured with; must equal the sender's.
   */
  'size'?: (number);
}

/**
 * Opens a ring edge.
 */
export interface Subscribe__Output {
  /**
   * Experiment whose reductions this stream carries.
   */
  'experiment': (string);
  /**
   * Generation the subscriber is in; older than the sender's is refused.
   */
  'generation': (string);
  /**
   * Rank of the subscriber; must be the sender's successor in the ring.
   */
  'rank': (number);
  /**
   * Ring size the subscriber was configured with; must equal the sender's.
   */
  'size': (number);
}
