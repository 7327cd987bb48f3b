// Original file: proto/unroll/v1/collective.proto

/**
 * Which half of the ring all-reduce a chunk belongs to.
 */
export const Phase = {
  /**
   * Never sent; a chunk carrying it is refused.
   */
  PHASE_UNSPECIFIED: 'PHASE_UNSPECIFIED',
  /**
   * Partial sums travel round the ring; after N-1 rounds member r owns the full
   * sum of segment (r + 1) mod N.
   */
  REDUCE_SCATTER: 'REDUCE_SCATTER',
  /**
   * Fully reduced segments travel round the ring and overwrite the receiver's copy.
   */
  ALL_GATHER: 'ALL_GATHER',
} as const;

/**
 * Which half of the ring all-reduce a chunk belongs to.
 */
export type Phase =
  /**
   * Never sent; a chunk carrying it is refused.
   */
  | 'PHASE_UNSPECIFIED'
  | 0
  /**
   * Partial sums travel round the ring; after N-1 rounds member r owns the full
   * sum of segment (r + 1) mod N.
   */
  | 'REDUCE_SCATTER'
  | 1
  /**
   * Fully reduced segments travel round the ring and overwrite the receiver's copy.
   */
  | 'ALL_GATHER'
  | 2

/**
 * Which half of the ring all-reduce a chunk belongs to.
 */
export type Phase__Output = typeof Phase[keyof typeof Phase]
