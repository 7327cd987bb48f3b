// Original file: proto/unroll/v1/collective.proto

/**
 * Element type of a payload.
 */
export const DType = {
  /**
   * Never sent; a chunk carrying it is refused.
   */
  DTYPE_UNSPECIFIED: 'DTYPE_UNSPECIFIED',
  /**
   * 4-byte little-endian IEEE-754 binary32.
   */
  FLOAT32: 'FLOAT32',
} as const;

/**
 * Element type of a payload.
 */
export type DType =
  /**
   * Never sent; a chunk carrying it is refused.
   */
  | 'DTYPE_UNSPECIFIED'
  | 0
  /**
   * 4-byte little-endian IEEE-754 binary32.
   */
  | 'FLOAT32'
  | 1

/**
 * Element type of a payload.
 */
export type DType__Output = typeof DType[keyof typeof DType]
