// Original file: proto/unroll/v1/collective.proto

import type { Long } from '@grpc/proto-loader';

/**
 * A joining member asks for the state of an experiment.
 */
export interface FetchStateRequest {
  /**
   * Experiment id.
   */
  'experiment'?: (string);
  /**
   * The generation the joiner enters; refused when the member has seen a newer one.
   */
  'generation'?: (number | string | Long);
  /**
   * Largest payload per chunk the joiner accepts, in bytes; 0 = the server's default.
   */
  'max_chunk_bytes'?: (number);
}

/**
 * A joining member asks for the state of an experiment.
 */
export interface FetchStateRequest__Output {
  /**
   * Experiment id.
   */
  'experiment': (string);
  /**
   * The generation the joiner enters; refused when the member has seen a newer one.
   */
  'generation': (string);
  /**
   * Largest payload per chunk the joiner accepts, in bytes; 0 = the server's default.
   */
  'max_chunk_bytes': (number);
}
