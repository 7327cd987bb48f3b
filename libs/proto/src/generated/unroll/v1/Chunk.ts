// Original file: proto/unroll/v1/collective.proto

import type { ReduceTag as _unroll_v1_ReduceTag, ReduceTag__Output as _unroll_v1_ReduceTag__Output } from '../../unroll/v1/ReduceTag';
import type { Phase as _unroll_v1_Phase, Phase__Output as _unroll_v1_Phase__Output } from '../../unroll/v1/Phase';
import type { DType as _unroll_v1_DType, DType__Output as _unroll_v1_DType__Output } from '../../unroll/v1/DType';
import type { Long } from '@grpc/proto-loader';

/**
 * One ring-schedule message. The receiver knows the whole schedule in advance and
 * checks every field against the chunk it expects next; a mismatch is refused and
 * never summed.
 */
export interface Chunk {
  /**
   * (experiment, generation, step) of the reduction.
   */
  'tag'?: (_unroll_v1_ReduceTag | null);
  /**
   * Index of the fused gradient bucket, in the fixed order of buckets.
   */
  'bucket'?: (number);
  /**
   * Reduce-scatter or all-gather.
   */
  'phase'?: (_unroll_v1_Phase);
  /**
   * Ring round within the phase, 0 .. N-2.
   */
  'round'?: (number);
  /**
   * Which of the N segments of the bucket this chunk belongs to.
   */
  'segment'?: (number);
  /**
   * Element offset of this chunk within the bucket.
   */
  'offset'?: (number | string | Long);
  /**
   * Number of elements of the whole bucket (all members must agree).
   */
  'total_elements'?: (number | string | Long);
  /**
   * Element type of `payload`.
   */
  'dtype'?: (_unroll_v1_DType);
  /**
   * The elements, little-endian; at most the configured chunk size (about 1 MiB).
   */
  'payload'?: (Buffer | Uint8Array | string);
  /**
   * Ignored by receivers. A sender may write it (a few bytes of anything)
   * *before* `payload` on the wire so that the payload starts at a multiple of 4
   * bytes from the start of the gRPC frame (5-byte prefix + message): the
   * receiver can then read the float32s in place instead of copying them.
   */
  'padding'?: (Buffer | Uint8Array | string);
}

/**
 * One ring-schedule message. The receiver knows the whole schedule in advance and
 * checks every field against the chunk it expects next; a mismatch is refused and
 * never summed.
 */
export interface Chunk__Output {
  /**
   * (experiment, generation, step) of the reduction.
   */
  'tag': (_unroll_v1_ReduceTag__Output | null);
  /**
   * Index of the fused gradient bucket, in the fixed order of buckets.
   */
  'bucket': (number);
  /**
   * Reduce-scatter or all-gather.
   */
  'phase': (_unroll_v1_Phase__Output);
  /**
   * Ring round within the phase, 0 .. N-2.
   */
  'round': (number);
  /**
   * Which of the N segments of the bucket this chunk belongs to.
   */
  'segment': (number);
  /**
   * Element offset of this chunk within the bucket.
   */
  'offset': (string);
  /**
   * Number of elements of the whole bucket (all members must agree).
   */
  'total_elements': (string);
  /**
   * Element type of `payload`.
   */
  'dtype': (_unroll_v1_DType__Output);
  /**
   * The elements, little-endian; at most the configured chunk size (about 1 MiB).
   */
  'payload': (Buffer);
  /**
   * Ignored by receivers. A sender may write it (a few bytes of anything)
   * *before* `payload` on the wire so that the payload starts at a multiple of 4
   * bytes from the start of the gRPC frame (5-byte prefix + message): the
   * receiver can then read the float32s in place instead of copying them.
   */
  'padding': (Buffer);
}
