import { loadCollectiveProto, serializeRingDownstream, standardDeserializeRingDownstream, standardSerializeRingDownstream } from './load-collective-proto';
import type { RingDownstream, RingDownstream__Output } from './generated/unroll/v1/RingDownstream';
import { SCRATCH_MIN_PAYLOAD_BYTES } from './ring-downstream-codec';

/**
 * The hand-written chunk codec against protobufjs (the independent reference):
 * each decodes what the other encodes into the same object.
 */
describe('Ring.Stream chunk codec', () => {
  const stream = loadCollectiveProto().unroll.v1.Ring.service.Stream;
  const payload = (bytes: number, seed: number): Buffer => Buffer.from(Array.from({ length: bytes }, (_, i) => (i * 31 + seed) & 0xff));
  const chunk = (p: Buffer, over: Partial<NonNullable<RingDownstream['chunk']>> = {}): RingDownstream => ({
    chunk: {
      tag: { experiment: 'exp-1', generation: 7, step: 123456789 },
      bucket: 3,
      phase: 'REDUCE_SCATTER',
      round: 2,
      segment: 1,
      offset: 4_000_000_000,
      total_elements: 1_048_576,
      dtype: 'FLOAT32',
      payload: p,
      ...over,
    },
  });

  /** `padding` carries no data: any content decodes to the same message. */
  const unpadded = (m: RingDownstream__Output): RingDownstream__Output => (m.chunk ? { ...m, chunk: { ...m.chunk, padding: Buffer.alloc(0) } } : m);

  const cases: Array<[string, RingDownstream]> = [
    ['a 1 MiB chunk', chunk(payload(1 << 20, 1))],
    ['a chunk at the scratch threshold, zero fields', chunk(payload(SCRATCH_MIN_PAYLOAD_BYTES, 2), { bucket: 0, round: 0, segment: 0, offset: 0, phase: 'ALL_GATHER' })],
    ['a 2 MiB + 3 bytes chunk (4-byte varint)', chunk(payload((2 << 20) + 3, 3), { offset: '7' })],
    ['a small chunk', chunk(payload(10, 4))],
    ['an empty chunk without a tag', { chunk: { payload: Buffer.alloc(0) } }],
    ['a non-ASCII experiment', chunk(payload(100, 5), { tag: { experiment: 'exp-ü', generation: '5', step: '6' } })],
    ['a generation beyond 2^53', chunk(payload(1 << 17, 6), { tag: { experiment: 'e', generation: '18446744073709551615', step: 1 } })],
    ['numeric enums', chunk(payload(256, 7), { phase: 2, dtype: 1 })],
    ['an abort', { abort: { reason: 'x', failed_rank: 1 } }],
  ];

  it.each(cases)('protobufjs decodes what the server and client serializers write: %s', (_, message) => {
    const expected = standardDeserializeRingDownstream(standardSerializeRingDownstream(message));
    expect(unpadded(standardDeserializeRingDownstream(stream.responseSerialize(message)))).toEqual(expected);
    expect(unpadded(standardDeserializeRingDownstream(serializeRingDownstream(message)))).toEqual(expected);
  });

  it.each(cases)('decodes what protobufjs writes, and its own output, as protobufjs does: %s', (_, message) => {
    const standardBytes = standardSerializeRingDownstream(message);
    expect(stream.responseDeserialize(standardBytes)).toEqual(standardDeserializeRingDownstream(standardBytes));
    const ownBytes = Buffer.from(serializeRingDownstream(message));
    expect(stream.responseDeserialize(ownBytes)).toEqual(standardDeserializeRingDownstream(ownBytes));
  });

  it('puts large payloads at a multiple of 4 bytes from the start of the gRPC frame, and decodes them as views', () => {
    for (const experiment of ['', 'e', 'experiment-with-a-longer-name', 'x'.repeat(200)]) {
      for (const bytes of [SCRATCH_MIN_PAYLOAD_BYTES, 1 << 20, (1 << 20) + 4, 16_380]) {
        const message = chunk(payload(bytes, 8), { tag: { experiment, generation: 1, step: 2 } });
        const encoded = serializeRingDownstream(message);
        const frame = Buffer.alloc(5 + encoded.length); // grpc-js reassembles into a fresh buffer with a 5-byte prefix
        encoded.copy(frame, 5);
        const decoded = stream.responseDeserialize(frame.subarray(5));
        expect(decoded.chunk?.payload.buffer).toBe(frame.buffer);
        expect((decoded.chunk?.payload.byteOffset ?? 1) % 4).toBe(0);
        expect(Buffer.compare(decoded.chunk?.payload as Buffer, message.chunk?.payload as Buffer)).toBe(0);
      }
    }
  });

  it('refers malformed or unusual chunks to protobufjs: unknown fields, duplicates, unknown enum values', () => {
    const odd = [
      Buffer.from([0x0a, 0x04, 0x18, 0x07, 0x10, 0x01]), // phase 7 (unknown value)
      Buffer.from([0x0a, 0x04, 0x10, 0x01, 0x10, 0x02]), // bucket twice: the last wins
      Buffer.from([0x0a, 0x04, 0x58, 0x01, 0x10, 0x02]), // unknown field 11
    ];
    for (const bytes of odd) expect(stream.responseDeserialize(bytes)).toEqual(standardDeserializeRingDownstream(bytes));
    expect(() => stream.responseDeserialize(Buffer.from([0x0a, 0x09, 0x4a, 0x20]))).toThrow();
  });

  it('reuses its buffer on the server side: the result is valid until the next call only (grpc-js copies it at once)', () => {
    const a = stream.responseSerialize(chunk(payload(1 << 17, 5)));
    const copy = Buffer.from(a);
    const b = stream.responseSerialize(chunk(payload(1 << 17, 6)));
    expect(b.buffer).toBe(a.buffer);
    expect(Buffer.compare(copy, serializeRingDownstream(chunk(payload(1 << 17, 5))))).toBe(0);
  });
});
