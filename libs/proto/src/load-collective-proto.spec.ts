import { loadCollectiveProto } from './load-collective-proto';
import type { Chunk } from './generated/unroll/v1/Chunk';

describe('loadCollectiveProto', () => {
  const proto = loadCollectiveProto();

  it('exposes the Ring service with its two RPCs and their streaming shapes', () => {
    const service = proto.unroll.v1.Ring.service;
    expect(service.Stream.requestStream).toBe(true);
    expect(service.Stream.responseStream).toBe(true);
    expect(service.FetchState.requestStream).toBe(false);
    expect(service.FetchState.responseStream).toBe(true);
  });

  it('decodes with the documented options: snake_case, uint64 as string, enum names, defaults, oneof name', () => {
    const service = proto.unroll.v1.Ring.service;
    const chunk: Chunk = {
      tag: { experiment: 'e1', generation: '18446744073709551615', step: 7 },
      bucket: 2,
      phase: 'ALL_GATHER',
      offset: 5,
      total_elements: 9,
      dtype: 'FLOAT32',
      payload: Buffer.from([1, 2, 3, 4]),
    };
    const bytes = service.Stream.responseSerialize({ chunk });
    const decoded = service.Stream.responseDeserialize(bytes);
    expect(decoded.body).toBe('chunk');
    expect(decoded.chunk?.tag?.generation).toBe('18446744073709551615');
    expect(decoded.chunk?.tag?.step).toBe('7');
    expect(decoded.chunk?.phase).toBe('ALL_GATHER');
    expect(decoded.chunk?.round).toBe(0);
    expect(decoded.chunk?.total_elements).toBe('9');
    expect(Buffer.isBuffer(decoded.chunk?.payload)).toBe(true);
    expect(decoded.abort).toBeUndefined();
  });

  it('returns the same definition on every call', () => {
    expect(loadCollectiveProto()).toBe(proto);
  });
});
