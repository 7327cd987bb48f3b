/**
 * Encoder and decoder of the safetensors format (https://github.com/huggingface/safetensors),
 * byte-compatible with the Python/Rust `safetensors` library and so with PyTorch's
 * `safetensors.torch.load_file`.
 *
 * Layout of a file:
 *
 *   [0, 8)         N, the header length, unsigned 64-bit little-endian
 *   [8, 8+N)       UTF-8 JSON header, padded with spaces (0x20) so that N is a multiple of 8:
 *                    {"__metadata__": {"key": "value", ...},
 *                     "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 *   [8+N, EOF)     the byte buffer: every tensor's elements, row-major, little-endian
 *
 * Invariants checked on read (the same ones the Rust reader checks, plus a few more):
 *   - 8 <= file size; N <= 100 MB; 8 + N <= file size; the header is UTF-8 JSON, an object, starts with '{'
 *   - every dtype is one we support; every shape an array of non-negative integers (shape [] is a scalar)
 *   - data_offsets are relative to the byte buffer; sorted by begin, the tensors tile the byte
 *     buffer exactly: the first begins at 0, each begins where the previous ended, the last ends at EOF
 *     (so no overlap, no gap, no trailing bytes)
 *   - end - begin == product(shape) * itemsize
 *   - `__metadata__`, if present, maps strings to strings
 *   - if `__metadata__["unroll.sha256"]` is present it is the lowercase hex SHA-256 of the byte buffer
 *
 * Writing: tensors are laid out contiguously in the order given (the Python library sorts by
 * alignment then name; any order is valid on read). A U8 tensor of odd length followed by an F32
 * leaves the F32 at an offset that is not a multiple of 4: valid, and our reader copies, but
 * PyTorch refuses to view such bytes as float ("storage_offset() must be divisible by 4"), so
 * pass `align: true` for files PyTorch will read.
 * Decoded tensors are always fresh, aligned copies, never views into the input.
 */
import { createHash } from 'node:crypto';
import { DTYPES, Dtype, TensorData, arrayTag, assertLittleEndianHost, isDtype } from './dtypes';
import { CheckpointArgumentError, CorruptCheckpointError } from './errors';

export interface NamedTensor {
  dtype: Dtype;
  /** Row-major dimensions; [] is a scalar (one element). */
  shape: number[];
  data: TensorData;
}

/** The contents of one safetensors file. */
export interface SafetensorsContents {
  tensors: Record<string, NamedTensor>;
  metadata: Record<string, string>;
}

export interface EncodeOptions {
  /**
   * Record the SHA-256 of the byte buffer in `__metadata__["unroll.sha256"]`, which the decoder
   * then verifies. A stale value is never written: if the given metadata already carries the key
   * it is recomputed regardless of this option.
   * @defaultValue false
   */
  checksum?: boolean;
  /**
   * Lay tensors out widest dtype first (stable otherwise), so every tensor starts at a multiple of
   * its item size in the file, as the Python writer does; the header then lists them in that order.
   * @defaultValue false — keep the order given
   */
  align?: boolean;
}

/** Metadata key of the byte buffer's SHA-256 (lowercase hex). */
export const CHECKSUM_METADATA_KEY = 'unroll.sha256';

const HEADER_KEY = '__metadata__';
/** Size of the length prefix, and the alignment the header is padded to. */
const PREFIX_BYTES = 8;
/** Same limit as the Rust reader: a larger header is corruption, not a model. */
const MAX_HEADER_BYTES = 100_000_000;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Number of elements of a shape, or a message saying why the shape is invalid. */
function elementCount(shape: unknown): number | string {
  if (!Array.isArray(shape)) return `shape must be an array, got ${JSON.stringify(shape)}`;
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      return `shape must hold non-negative integers, got ${JSON.stringify(shape)}`;
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) return `shape ${JSON.stringify(shape)} has too many elements`;
  return n;
}

function asBytes(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Encodes tensors (in the order given) and string metadata into one safetensors file image. */
export function encodeSafetensors(
  tensors: Record<string, NamedTensor>,
  metadata: Record<string, string> = {},
  options: EncodeOptions = {},
): Buffer {
  assertLittleEndianHost();
  const entries = Object.entries(tensors);
  if (options.align === true) {
    // The header is padded to a multiple of 8 and each tensor's byte length is a multiple of its
    // item size, so widest-first keeps every offset a multiple of the current item size.
    entries.sort(([, a], [, b]) => (DTYPES[b.dtype]?.itemsize ?? 0) - (DTYPES[a.dtype]?.itemsize ?? 0));
  }
  const header: [string, unknown][] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === HEADER_KEY) throw new CheckpointArgumentError(`tensor name ${HEADER_KEY} is reserved`);
    if (!isDtype(t.dtype)) {
      throw new CheckpointArgumentError(
        `tensor ${name}: dtype expected one of ${Object.keys(DTYPES).join(', ')}, got ${String(t.dtype)}`,
      );
    }
    const info = DTYPES[t.dtype];
    if (!ArrayBuffer.isView(t.data) || arrayTag(t.data) !== info.arrayTag) {
      throw new CheckpointArgumentError(
        `tensor ${name}: dtype ${t.dtype} expects a ${info.arrayTag}, got ${arrayTag(t.data)}`,
      );
    }
    const count = elementCount(t.shape);
    if (typeof count === 'string') throw new CheckpointArgumentError(`tensor ${name}: ${count}`);
    if (t.data.length !== count) {
      throw new CheckpointArgumentError(
        `tensor ${name}: shape [${t.shape.join(',')}] needs ${count} elements, data has ${t.data.length}`,
      );
    }
    const end = offset + t.data.byteLength;
    header.push([name, { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, end] }]);
    offset = end;
  }

  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new CheckpointArgumentError(`metadata ${key}: expected a string value, got ${typeof value}`);
    }
  }
  const body = Buffer.allocUnsafe(offset);
  let at = 0;
  for (const [, t] of entries) {
    body.set(asBytes(t.data), at);
    at += t.data.byteLength;
  }
  const meta = { ...metadata };
  if (options.checksum === true || Object.hasOwn(meta, CHECKSUM_METADATA_KEY)) {
    meta[CHECKSUM_METADATA_KEY] = sha256Hex(body);
  }
  // The Rust writer puts __metadata__ first and omits it when empty; we do the same.
  if (Object.keys(meta).length > 0) header.unshift([HEADER_KEY, meta]);

  const json = Buffer.from(JSON.stringify(Object.fromEntries(header)), 'utf8');
  const headerLength = Math.ceil(json.length / PREFIX_BYTES) * PREFIX_BYTES;
  const out = Buffer.alloc(PREFIX_BYTES + headerLength + body.length, 0x20);
  out.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(out, PREFIX_BYTES);
  body.copy(out, PREFIX_BYTES + headerLength);
  return out;
}

interface RawEntry {
  name: string;
  begin: number;
  end: number;
}

/**
 * Decodes and validates a safetensors file image. Every violation of the invariants in the
 * module comment throws CorruptCheckpointError naming `source` and the problem.
 * @param source label for error messages, normally the file path. @defaultValue '<buffer>'
 */
export function decodeSafetensors(buf: Buffer | Uint8Array, source = '<buffer>'): SafetensorsContents {
  assertLittleEndianHost();
  const corrupt = (problem: string): CorruptCheckpointError => new CorruptCheckpointError(source, problem);
  if (buf.byteLength < PREFIX_BYTES) {
    throw corrupt(`file is ${buf.byteLength} bytes, shorter than the ${PREFIX_BYTES}-byte header length`);
  }
  const declared = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw corrupt(`header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLength = Number(declared);
  if (PREFIX_BYTES + headerLength > buf.byteLength) {
    throw corrupt(
      `header length ${headerLength} runs past the end of the file (${buf.byteLength - PREFIX_BYTES} bytes after the length)`,
    );
  }
  const headerBytes = buf.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength);
  const bodyStart = PREFIX_BYTES + headerLength;
  const bodyLength = buf.byteLength - bodyStart;

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw corrupt('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw corrupt(`header must start with '{', got ${JSON.stringify(text.slice(0, 16))}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw corrupt(`header is not JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw corrupt('header JSON is not an object');
  }

  const metadata = readMetadata((parsed as Record<string, unknown>)[HEADER_KEY], corrupt);
  const raw: RawEntry[] = [];
  const infos = new Map<string, { dtype: Dtype; shape: number[] }>();
  for (const [name, value] of Object.entries(parsed)) {
    if (name === HEADER_KEY) continue;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw corrupt(`tensor ${name}: expected {dtype, shape, data_offsets}, got ${JSON.stringify(value)}`);
    }
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isDtype(dtype)) {
      throw corrupt(`tensor ${name}: dtype expected one of ${Object.keys(DTYPES).join(', ')}, got ${JSON.stringify(dtype)}`);
    }
    const count = elementCount(shape);
    if (typeof count === 'string') throw corrupt(`tensor ${name}: ${count}`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
    ) {
      throw corrupt(`tensor ${name}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw corrupt(`tensor ${name}: data_offsets [${begin},${end}] end before they begin`);
    if (end > bodyLength) {
      throw corrupt(`tensor ${name}: data_offsets [${begin},${end}] out of range, the byte buffer holds ${bodyLength} bytes`);
    }
    const expectedBytes = count * DTYPES[dtype].itemsize;
    if (end - begin !== expectedBytes) {
      throw corrupt(
        `tensor ${name}: ${dtype}[${(shape as number[]).join(',')}] needs ${expectedBytes} bytes, data_offsets [${begin},${end}] hold ${end - begin}`,
      );
    }
    raw.push({ name, begin, end });
    infos.set(name, { dtype, shape: shape as number[] });
  }

  // Tiling: sorted by position, each tensor starts where the previous one ended.
  const sorted = [...raw].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous = '(start of byte buffer)';
  for (const r of sorted) {
    if (r.begin < cursor) throw corrupt(`tensor ${r.name} at [${r.begin},${r.end}] overlaps ${previous} ending at ${cursor}`);
    if (r.begin > cursor) throw corrupt(`gap of ${r.begin - cursor} bytes between ${previous} and tensor ${r.name}`);
    cursor = r.end;
    previous = `tensor ${r.name}`;
  }
  if (cursor !== bodyLength) {
    throw corrupt(`${bodyLength - cursor} trailing bytes after the last tensor (byte buffer ${bodyLength}, tensors cover ${cursor})`);
  }

  const body = buf.subarray(bodyStart);
  const recorded = metadata[CHECKSUM_METADATA_KEY];
  if (recorded !== undefined) {
    if (!SHA256_HEX.test(recorded)) throw corrupt(`${CHECKSUM_METADATA_KEY} is not a sha256 hex digest: ${JSON.stringify(recorded)}`);
    const actual = sha256Hex(body);
    if (actual !== recorded) throw corrupt(`checksum mismatch: header records sha256 ${recorded}, byte buffer hashes to ${actual}`);
  }

  const tensors: [string, NamedTensor][] = raw.map(({ name, begin, end }) => {
    const { dtype, shape } = infos.get(name) as { dtype: Dtype; shape: number[] };
    const copy = new ArrayBuffer(end - begin);
    new Uint8Array(copy).set(body.subarray(begin, end));
    return [name, { dtype, shape, data: DTYPES[dtype].wrap(copy) }];
  });
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { tensors: Object.fromEntries(tensors), metadata };
}

function readMetadata(value: unknown, corrupt: (problem: string) => CorruptCheckpointError): Record<string, string> {
  // The Rust reader accepts a missing or null __metadata__.
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw corrupt(`${HEADER_KEY} must be an object of strings, got ${JSON.stringify(value)}`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw corrupt(`${HEADER_KEY}.${key} must be a string, got ${JSON.stringify(v)}`);
  }
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}
