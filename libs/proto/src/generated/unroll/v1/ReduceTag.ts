// Original file: proto/unroll/v1/collective.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The fencing identity shared by every message of one reduction.
 */
export interface ReduceTag {
  /**
   * Experiment id, as the coordinator names it.
   */
  'experiment'?: (string);
  /**
   * Membership generation (fencing token); decimal string in TypeScript.
   */
  'generation'?: (number | string | Long);
  /**
   * Training step being reduced; decimal string in TypeScript.
   */
  'step'?: (number | string | Long);
}

/**
 * The fencing identity shared by every message of one reduction.
 */
export interface ReduceTag__Output {
  /**
   * Experiment id, as the coordinator names it.
   */
  'experiment': (string);
  /**
   * Membership generation (fencing token); decimal string in TypeScript.
   */
  'generation': (string);
  /**
   * Training step being reduced; decimal string in TypeScript.
   */
  'step': (string);
}
