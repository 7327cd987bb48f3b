/**
 * The safetensors dtypes this lib reads and writes, and the typed array that holds each.
 * Every dtype is stored little-endian; `itemsize` is bytes per element.
 */
import { endianness } from 'node:os';
import { CheckpointError } from './errors';

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
export type Dtype = 'F32' | 'F64' | 'I32' | 'I64' | 'U8';

interface DtypeInfo {
  itemsize: number;
  /** `Symbol.toStringTag` of the typed array that holds this dtype (works across realms, unlike instanceof). */
  arrayTag: string;
  /** Wraps a whole, freshly allocated (hence aligned) ArrayBuffer. */
  wrap(buffer: ArrayBuffer): TensorData;
}

export const DTYPES: Readonly<Record<Dtype, DtypeInfo>> = {
  F32: { itemsize: 4, arrayTag: 'Float32Array', wrap: (b) => new Float32Array(b) },
  F64: { itemsize: 8, arrayTag: 'Float64Array', wrap: (b) => new Float64Array(b) },
  I32: { itemsize: 4, arrayTag: 'Int32Array', wrap: (b) => new Int32Array(b) },
  I64: { itemsize: 8, arrayTag: 'BigInt64Array', wrap: (b) => new BigInt64Array(b) },
  U8: { itemsize: 1, arrayTag: 'Uint8Array', wrap: (b) => new Uint8Array(b) },
};

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

/** Name of a typed array's class, e.g. 'Float32Array' (a Buffer reports 'Uint8Array'). */
export function arrayTag(data: ArrayBufferView): string {
  return (data as unknown as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] ?? typeof data;
}

/**
 * Typed arrays use the host's byte order and the format is little-endian; we copy bytes
 * verbatim, so refuse to run on a big-endian host rather than write byte-swapped files.
 */
export function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') {
    throw new CheckpointError(`safetensors needs a little-endian host, this one is ${endianness()}`);
  }
}
