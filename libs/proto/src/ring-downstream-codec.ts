/**
 * A hand-written codec for the ring's data messages (`RingDownstream` carrying a
 * `Chunk`), installed as `Ring.Stream`'s response serializer and deserializer by
 * {@link loadCollectiveProto}. Wire-compatible with collective.proto both ways:
 * protobufjs decodes what it writes and it decodes what protobufjs writes
 * (tested); anything but a plain chunk goes through protobufjs.
 *
 * Why. A chunk is a few scalar fields and a ~1 MiB `bytes` payload, one per
 * ring message. protobufjs encodes it through a generic writer into a freshly
 * allocated buffer and decodes through a generic reader plus a `toObject`
 * conversion; on this project's machines a fresh megabyte costs about ten times
 * the copy itself (page faults and collector work: bench/allreduce/RESULTS.md).
 *
 * Encoding: every field of the chunk but the payload, in field order (tag,
 * bucket, phase, round, segment, offset, total_elements, dtype; zero values
 * omitted as proto3 allows), then `padding` (field 10) when needed, then
 * `payload` (field 9) last. Fields may appear in any order on the wire; the
 * padding makes the payload start at a multiple of 4 bytes from the start of
 * the gRPC frame (5-byte length prefix + message), so the receiver reads the
 * float32s in place (grpc-js reassembles a large message into a buffer of its
 * own, which starts aligned).
 *
 * Two serializers:
 *  - {@link scratchRingDownstreamSerializer}: writes into one reused scratch
 *    buffer, valid until the next call. That holds for grpc-js's server side,
 *    which copies the serialized message into its own frame inside the same
 *    synchronous call (`serializeMessage`); the client side frames later, after
 *    an await, so it must never be a `requestSerialize`.
 *  - {@link encodeRingDownstream}: a fresh buffer of the exact size, for clients.
 */
import type { RingDownstream, RingDownstream__Output } from './generated/unroll/v1/RingDownstream';
import type { Chunk, Chunk__Output } from './generated/unroll/v1/Chunk';

/** Chunks with fewer payload bytes than this take the standard path (the saving is in large payloads). */
export const SCRATCH_MIN_PAYLOAD_BYTES = 64 * 1024;

/** gRPC's length prefix in front of every message: compressed flag and u32 length. */
const GRPC_FRAME_PREFIX_BYTES = 5;

/** Wire tags: (field number << 3) | wire type (0 varint, 2 length-delimited). */
const TAG = {
  downstreamChunk: (1 << 3) | 2,
  chunkTag: (1 << 3) | 2,
  bucket: 2 << 3,
  phase: 3 << 3,
  round: 4 << 3,
  segment: 5 << 3,
  offset: 6 << 3,
  totalElements: 7 << 3,
  dtype: 8 << 3,
  payload: (9 << 3) | 2,
  padding: (10 << 3) | 2,
  experiment: (1 << 3) | 2,
  generation: 2 << 3,
  step: 3 << 3,
} as const;

const PHASES = ['PHASE_UNSPECIFIED', 'REDUCE_SCATTER', 'ALL_GATHER'] as const;
const DTYPES = ['DTYPE_UNSPECIFIED', 'FLOAT32'] as const;
const EMPTY = Buffer.alloc(0);

type Uint64 = number | bigint;

/** A uint64 field as the loader accepts it (number, decimal string, Long); undefined when it cannot be encoded here. */
function toUint64(v: unknown): Uint64 | undefined {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v === 'string') {
    if (!/^\d{1,20}$/.test(v)) return undefined;
    const n = Number(v);
    if (Number.isSafeInteger(n)) return n;
    const b = BigInt(v);
    return b < 1n << 64n ? b : undefined;
  }
  return undefined; // Long and anything else: the standard path
}

function toUint32(v: unknown): number | undefined {
  if (v === undefined || v === null) return 0;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : undefined;
}

function toEnum(v: unknown, names: readonly string[]): number | undefined {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v < names.length ? v : undefined;
  const i = names.indexOf(v as string);
  return i >= 0 ? i : undefined;
}

function varintLength(n: Uint64): number {
  if (typeof n === 'bigint') {
    let length = 1;
    while (n >= 0x80n) {
      n >>= 7n;
      length++;
    }
    return length;
  }
  let length = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    length++;
  }
  return length;
}

function writeVarint(target: Uint8Array, at: number, n: Uint64): number {
  if (typeof n === 'bigint') {
    while (n >= 0x80n) {
      target[at++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    target[at++] = Number(n);
    return at;
  }
  while (n >= 0x80) {
    target[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  target[at++] = n;
  return at;
}

/** The chunk's fields other than the payload, checked and converted; undefined when the standard path must handle it. */
interface ChunkHead {
  experiment: Buffer;
  generation: Uint64;
  step: Uint64;
  hasTag: boolean;
  scalars: Array<[number, Uint64]>;
  payload: Uint8Array;
}

function chunkHead(message: RingDownstream): ChunkHead | undefined {
  const c: Chunk | undefined | null = message.chunk;
  if (!c || message.abort || !(c.payload instanceof Uint8Array)) return undefined;
  const tag = c.tag;
  const generation = toUint64(tag?.generation);
  const step = toUint64(tag?.step);
  const values: Array<[number, Uint64 | undefined]> = [
    [TAG.bucket, toUint32(c.bucket)],
    [TAG.phase, toEnum(c.phase, PHASES)],
    [TAG.round, toUint32(c.round)],
    [TAG.segment, toUint32(c.segment)],
    [TAG.offset, toUint64(c.offset)],
    [TAG.totalElements, toUint64(c.total_elements)],
    [TAG.dtype, toEnum(c.dtype, DTYPES)],
  ];
  if (generation === undefined || step === undefined || values.some(([, v]) => v === undefined)) return undefined;
  if (tag && typeof tag.experiment !== 'string' && tag.experiment !== undefined && tag.experiment !== null) return undefined;
  if (c.padding !== undefined && c.padding !== null && !(c.padding instanceof Uint8Array && c.padding.byteLength === 0)) return undefined;
  return {
    experiment: Buffer.from(tag?.experiment ?? '', 'utf8'),
    generation,
    step,
    hasTag: tag !== undefined && tag !== null,
    scalars: values.filter((e): e is [number, Uint64] => e[1] !== 0 && e[1] !== 0n),
    payload: c.payload,
  };
}

/** Byte layout of one encoded chunk message. */
interface Layout {
  tagBody: number;
  fields: number;
  padding: number;
  body: number;
  total: number;
}

function layout(h: ChunkHead): Layout {
  let tagBody = 0;
  if (h.experiment.length) tagBody += 1 + varintLength(h.experiment.length) + h.experiment.length;
  if (h.generation !== 0 && h.generation !== 0n) tagBody += 1 + varintLength(h.generation);
  if (h.step !== 0 && h.step !== 0n) tagBody += 1 + varintLength(h.step);
  let fields = h.hasTag ? 1 + varintLength(tagBody) + tagBody : 0;
  for (const [, v] of h.scalars) fields += 1 + varintLength(v);
  const p = h.payload.byteLength;
  const payloadField = 1 + varintLength(p) + p;
  // Payload start within the frame: prefix + outer tag + outer length + fields [+ padding field] + payload tag + length.
  // A padding field costs 2 + k bytes (tag, one-byte length, k bytes); pick the first k that puts the payload
  // on a multiple of 4 (k ≤ 3 unless the outer length's varint grows by a byte on the way).
  for (let padding = -1; padding <= 7; padding++) {
    const paddingField = padding < 0 ? 0 : 2 + padding;
    const body = fields + paddingField + payloadField;
    const start = GRPC_FRAME_PREFIX_BYTES + 1 + varintLength(body) + fields + paddingField + 1 + varintLength(p);
    if (start % 4 === 0) return { tagBody, fields, padding, body, total: 1 + varintLength(body) + body };
  }
  throw new Error('unreachable: eight consecutive paddings cover every residue mod 4');
}

function write(h: ChunkHead, l: Layout, target: Uint8Array): void {
  let at = 0;
  target[at++] = TAG.downstreamChunk;
  at = writeVarint(target, at, l.body);
  if (h.hasTag) {
    target[at++] = TAG.chunkTag;
    at = writeVarint(target, at, l.tagBody);
    if (h.experiment.length) {
      target[at++] = TAG.experiment;
      at = writeVarint(target, at, h.experiment.length);
      target.set(h.experiment, at);
      at += h.experiment.length;
    }
    if (h.generation !== 0 && h.generation !== 0n) {
      target[at++] = TAG.generation;
      at = writeVarint(target, at, h.generation);
    }
    if (h.step !== 0 && h.step !== 0n) {
      target[at++] = TAG.step;
      at = writeVarint(target, at, h.step);
    }
  }
  for (const [tag, v] of h.scalars) {
    target[at++] = tag;
    at = writeVarint(target, at, v);
  }
  if (l.padding >= 0) {
    target[at++] = TAG.padding;
    target[at++] = l.padding;
    target.fill(0, at, at + l.padding);
    at += l.padding;
  }
  target[at++] = TAG.payload;
  at = writeVarint(target, at, h.payload.byteLength);
  target.set(h.payload, at);
}

/** Encodes `message` into a fresh buffer (chunks by hand, the rest through `standard`). */
export function encodeRingDownstream(message: RingDownstream, standard: (m: RingDownstream) => Buffer): Buffer {
  const h = chunkHead(message);
  if (!h) return standard(message);
  const l = layout(h);
  const out = Buffer.allocUnsafe(l.total);
  write(h, l, out);
  return out;
}

/**
 * The server-side serializer of `Ring.Stream`: chunks of at least
 * {@link SCRATCH_MIN_PAYLOAD_BYTES} go into one reused buffer (valid until the
 * next call; see the module comment), the rest through `standard`.
 */
export function scratchRingDownstreamSerializer(standard: (message: RingDownstream) => Buffer): (message: RingDownstream) => Buffer {
  let scratch = Buffer.alloc(0);
  return (message: RingDownstream): Buffer => {
    const h = chunkHead(message);
    if (!h || h.payload.byteLength < SCRATCH_MIN_PAYLOAD_BYTES) return h ? encodeRingDownstream(message, standard) : standard(message);
    const l = layout(h);
    if (scratch.length < l.total) scratch = Buffer.allocUnsafe(l.total);
    const out = scratch.subarray(0, l.total);
    write(h, l, out);
    return out;
  };
}

/** Reads a varint as a number when below 2^53, else undefined (the standard path decodes it). */
function readVarint(b: Buffer, at: number, end: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8 && at < end; i++, scale *= 128) {
    const byte = b[at++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value <= Number.MAX_SAFE_INTEGER ? [value, at] : undefined;
  }
  return undefined;
}

/**
 * The deserializer of `Ring.Stream` responses: a chunk with the fields this
 * codec knows, each at most once and in range, is decoded by hand into exactly
 * what protobufjs and the loader options produce (tested), with `payload` a view
 * of `bytes` (no copy). Anything else — an abort, an unknown field or enum
 * value, a 64-bit value beyond 2^53 — goes to `standard`.
 */
export function ringDownstreamDeserializer(standard: (bytes: Buffer) => RingDownstream__Output): (bytes: Buffer) => RingDownstream__Output {
  return (bytes: Buffer): RingDownstream__Output => decodeChunkMessage(bytes) ?? standard(bytes);
}

function decodeChunkMessage(b: Buffer): RingDownstream__Output | undefined {
  if (b.length < 2 || b[0] !== TAG.downstreamChunk) return undefined;
  const outer = readVarint(b, 1, b.length);
  if (!outer || outer[1] + outer[0] !== b.length) return undefined;
  let at = outer[1];
  const end = b.length;
  const chunk: Chunk__Output = {
    tag: null,
    bucket: 0,
    phase: 'PHASE_UNSPECIFIED',
    round: 0,
    segment: 0,
    offset: '0',
    total_elements: '0',
    dtype: 'DTYPE_UNSPECIFIED',
    payload: EMPTY,
    padding: EMPTY,
  };
  let seen = 0;
  while (at < end) {
    const key = b[at++];
    const field = key >>> 3;
    if (key >= 0x80 || field < 1 || field > 10 || seen & (1 << field)) return undefined;
    seen |= 1 << field;
    const v = readVarint(b, at, end);
    if (!v) return undefined;
    const [value, next] = v;
    const lengthDelimited = field === 1 || field === 9 || field === 10;
    if (key !== (lengthDelimited ? (field << 3) | 2 : field << 3)) return undefined;
    if (lengthDelimited) {
      if (next + value > end) return undefined;
      const bytes = b.subarray(next, next + value);
      if (field === 1) {
        const tag = decodeTag(bytes);
        if (!tag) return undefined;
        chunk.tag = tag;
      } else if (field === 9) chunk.payload = bytes;
      else chunk.padding = bytes;
      at = next + value;
      continue;
    }
    at = next;
    switch (field) {
      case 2:
      case 4:
      case 5:
        if (value > 0xffffffff) return undefined;
        if (field === 2) chunk.bucket = value;
        else if (field === 4) chunk.round = value;
        else chunk.segment = value;
        break;
      case 3:
        if (value >= PHASES.length) return undefined;
        chunk.phase = PHASES[value];
        break;
      case 8:
        if (value >= DTYPES.length) return undefined;
        chunk.dtype = DTYPES[value];
        break;
      case 6:
        chunk.offset = String(value);
        break;
      case 7:
        chunk.total_elements = String(value);
        break;
    }
  }
  return { chunk, body: 'chunk' };
}

function decodeTag(b: Buffer): Chunk__Output['tag'] | undefined {
  const tag = { experiment: '', generation: '0', step: '0' };
  let at = 0;
  let seen = 0;
  while (at < b.length) {
    const key = b[at++];
    const field = key >>> 3;
    if (field < 1 || field > 3 || seen & (1 << field) || key !== (field === 1 ? 0x0a : field << 3)) return undefined;
    seen |= 1 << field;
    const v = readVarint(b, at, b.length);
    if (!v) return undefined;
    const [value, next] = v;
    if (field === 1) {
      if (next + value > b.length) return undefined;
      // ASCII only: protobufjs's UTF-8 decoder and Buffer's may differ on malformed input.
      for (let i = next; i < next + value; i++) if (b[i] >= 0x80) return undefined;
      tag.experiment = b.toString('latin1', next, next + value);
      at = next + value;
    } else {
      if (field === 2) tag.generation = String(value);
      else tag.step = String(value);
      at = next;
    }
  }
  return tag;
}
