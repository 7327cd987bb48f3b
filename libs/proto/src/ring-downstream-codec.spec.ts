import { loadCollectiveProto, serializeRingDownstream } from './load-collective-proto';
import type { RingDownstream } from './generated/unroll/v1/RingDownstream';
import { SCRATCH_MIN_PAYLOAD_BYTES } from './ring-downstream-codec';

describe('Ring.Stream scratch serializer', () => {
  const stream = loadCollectiveProto().unroll.v1.Ring.service.Stream;
  const payload = (bytes: number, seed: number): Buffer => Buffer.from(Array.from({ length: bytes }, (_, i) => (i * 31 + seed) & 0xff));
  const chunk = (p: Buffer, over: Partial<NonNullable<RingDownstream['chunk']>> = {}): RingDownstream => ({
    chunk: {
      tag: { experiment: 'exp-ü', generation: '18446744073709551615', step: 123456789 },
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

  it.each([
    ['a 1 MiB chunk', chunk(payload(1 << 20, 1))],
    ['a chunk at the threshold, zero fields', chunk(payload(SCRATCH_MIN_PAYLOAD_BYTES, 2), { bucket: 0, round: 0, segment: 0, offset: 0, phase: 'ALL_GATHER' })],
    ['a 2 MiB + 3 bytes chunk (4-byte varint)', chunk(payload((2 << 20) + 3, 3), { offset: '7' })],
    ['a small chunk (standard path)', chunk(payload(10, 4))],
    ['an abort', { abort: { reason: 'x', failed_rank: 1 } }],
  ])('writes the same bytes as protobufjs: %s', (_, message) => {
    const expected = serializeRingDownstream(message);
    expect(Buffer.compare(stream.responseSerialize(message), expected)).toBe(0);
    expect(stream.responseDeserialize(stream.responseSerialize(message))).toEqual(stream.responseDeserialize(expected));
  });

  it('reuses its buffer: the result is valid until the next call only (grpc-js copies it at once on the server side)', () => {
    const a = stream.responseSerialize(chunk(payload(1 << 17, 5)));
    const copy = Buffer.from(a);
    const b = stream.responseSerialize(chunk(payload(1 << 17, 6)));
    expect(b.buffer).toBe(a.buffer);
    expect(Buffer.compare(copy, serializeRingDownstream(chunk(payload(1 << 17, 5))))).toBe(0);
  });
});
