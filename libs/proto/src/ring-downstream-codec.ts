/**
 * A faster serializer for the ring's data messages (`RingDownstream` carrying a
 * `Chunk`), installed as the server-side serializer of `Ring.Stream` by
 * {@link loadCollectiveProto}.
 *
 * Why. protobufjs encodes a chunk into a freshly allocated buffer (copying the
 * ~1 MiB payload) and grpc-js then copies that buffer once more into its own
 * length-prefixed frame. The fresh megabyte per message costs page faults on
 * first touch and, as external memory, drives V8 into full mark-compact
 * collections (bench/allreduce/RESULTS.md: about a third of the ring's CPU at
 * N = 4). This serializer writes into one reused scratch buffer instead: the
 * same bytes, one copy of the payload, no allocation in the steady state.
 *
 * How. The chunk is encoded by the standard (protobufjs) serializer with an
 * empty payload — every field but the payload, with the loader's conversions of
 * enums and 64-bit integers — and the payload field is then appended by hand.
 * `payload` is the last field of `Chunk` (number 9), so the result is byte for
 * byte what protobufjs writes for the whole message (tested). Anything else (an
 * abort, a small chunk, an unexpected layout) goes to the standard serializer.
 *
 * Contract: the returned buffer is valid only until the next call. That holds for
 * grpc-js's server side, which frames (copies) a message synchronously inside
 * `write()`; the client side frames asynchronously, so this serializer must never
 * be a `requestSerialize`.
 */
import type { RingDownstream } from './generated/unroll/v1/RingDownstream';

/** Chunks with fewer payload bytes than this take the standard path (the saving is in large payloads). */
export const SCRATCH_MIN_PAYLOAD_BYTES = 64 * 1024;

/** Wire tag of `RingDownstream.chunk` (field 1, length-delimited). */
const CHUNK_TAG = 0x0a;
/** Wire tag of `Chunk.payload` (field 9, length-delimited). */
const PAYLOAD_TAG = 0x4a;
const EMPTY = Buffer.alloc(0);

function varintLength(n: number): number {
  let length = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    length++;
  }
  return length;
}

function writeVarint(target: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    target[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  target[at++] = n;
  return at;
}

/** Reads a varint of at most 5 bytes; returns [value, next offset] or undefined. */
function readVarint(source: Buffer, at: number): [number, number] | undefined {
  let value = 0;
  for (let shift = 0, i = 0; i < 5 && at < source.length; i++, shift += 7) {
    const byte = source[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
  }
  return undefined;
}

/**
 * Wraps the standard serializer of `RingDownstream` into the scratch-buffer one
 * described above.
 */
export function scratchRingDownstreamSerializer(standard: (message: RingDownstream) => Buffer): (message: RingDownstream) => Buffer {
  let scratch = Buffer.alloc(0);
  return (message: RingDownstream): Buffer => {
    const chunk = message.chunk;
    const payload = chunk?.payload;
    if (!chunk || message.abort || !(payload instanceof Uint8Array) || payload.byteLength < SCRATCH_MIN_PAYLOAD_BYTES) return standard(message);
    // Every field but the payload, encoded by protobufjs: 0x0a len(body) body… 0x4a 0x00.
    const head = standard({ chunk: { ...chunk, payload: EMPTY } });
    const outer = head[0] === CHUNK_TAG ? readVarint(head, 1) : undefined;
    if (!outer || outer[1] + outer[0] !== head.length || head[head.length - 2] !== PAYLOAD_TAG || head[head.length - 1] !== 0) return standard(message);
    const [, bodyStart] = outer;
    const fields = head.subarray(bodyStart, head.length - 1); // up to and including the payload tag
    const p = payload.byteLength;
    const body = fields.length + varintLength(p) + p;
    const total = 1 + varintLength(body) + body;
    if (scratch.length < total) scratch = Buffer.allocUnsafe(total);
    let at = 0;
    scratch[at++] = CHUNK_TAG;
    at = writeVarint(scratch, at, body);
    at += fields.copy(scratch, at);
    at = writeVarint(scratch, at, p);
    scratch.set(payload, at);
    return scratch.subarray(0, total);
  };
}
