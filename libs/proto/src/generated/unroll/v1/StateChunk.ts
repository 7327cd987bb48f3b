// Original file: proto/unroll/v1/collective.proto

import type { DType as _unroll_v1_DType, DType__Output as _unroll_v1_DType__Output } from '../../unroll/v1/DType';
import type { Long } from '@grpc/proto-loader';

/**
 * A piece of one named tensor of parameters or optimizer state.
 */
export interface StateChunk {
  /**
   * Experiment id.
   */
  'experiment'?: (string);
  /**
   * Generation of the member serving the state.
   */
  'generation'?: (number | string | Long);
  /**
   * Last committed step the state belongs to.
   */
  'step'?: (number | string | Long);
  /**
   * Tensor name, PyTorch-style (`weight_ih_l0`, `optimizer.m.weight_ih_l0`, ...).
   */
  'name'?: (string);
  /**
   * Shape of the whole tensor.
   */
  'shape'?: (number)[];
  /**
   * Element type of the payload.
   */
  'dtype'?: (_unroll_v1_DType);
  /**
   * Element offset of this chunk within the tensor.
   */
  'offset'?: (number | string | Long);
  /**
   * Number of elements of the whole tensor.
   */
  'total_elements'?: (number | string | Long);
  /**
   * The elements, little-endian.
   */
  'payload'?: (Buffer | Uint8Array | string);
}

/**
 * A piece of one named tensor of parameters or optimizer state.
 */
export interface StateChunk__Output {
  /**
   * Experiment id.
   */
  'experiment': (string);
  /**
   * Generation of the member serving the state.
   */
  'generation': (string);
  /**
   * Last committed step the state belongs to.
   */
  'step': (string);
  /**
   * Tensor name, PyTorch-style (`weight_ih_l0`, `optimizer.m.weight_ih_l0`, ...).
   */
  'name': (string);
  /**
   * Shape of the whole tensor.
   */
  'shape': (number)[];
  /**
   * Element type of the payload.
   */
  'dtype': (_unroll_v1_DType__Output);
  /**
   * Element offset of this chunk within the tensor.
   */
  'offset': (string);
  /**
   * Number of elements of the whole tensor.
   */
  'total_elements': (string);
  /**
   * The elements, little-endian.
   */
  'payload': (Buffer);
}
