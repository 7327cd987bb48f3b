import { createHash } from 'node:crypto';
import { CheckpointArgumentError, CheckpointError, CorruptCheckpointError } from './errors';
import { CHECKSUM_METADATA_KEY, NamedTensor, decodeSafetensors, encodeSafetensors } from './safetensors';

/** A file image from a raw header string and body, with the header length prefix and no padding. */
function frame(header: string, body: Uint8Array = new Uint8Array(0)): Buffer {
  const json = Buffer.from(header, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, body]);
}

function bytesOf(t: NamedTensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function expectCorrupt(file: Uint8Array, problem: RegExp): void {
  let caught: unknown;
  try {
    decodeSafetensors(file, 'bad.safetensors');
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CorruptCheckpointError);
  expect(caught).toBeInstanceOf(CheckpointError);
  const error = caught as CorruptCheckpointError;
  expect(error.name).toBe('CorruptCheckpointError');
  expect(error.source).toBe('bad.safetensors');
  expect(error.message).toContain('bad.safetensors');
  expect(error.problem).toMatch(problem);
}

describe('encodeSafetensors / decodeSafetensors', () => {
  it('writes the exact bytes of the format (golden file)', () => {
    const file = encodeSafetensors(
      {
        a: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) },
        b: { dtype: 'U8', shape: [], data: new Uint8Array([7]) },
      },
      { k: 'v' },
    );
    // Header JSON, 130 bytes, padded with 6 spaces to 136 (a multiple of 8), as the Rust writer does:
    // {"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}
    const header =
      '{"__metadata__":{"k":"v"},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}' +
      '      ';
    const expected = Buffer.concat([
      Buffer.from([136, 0, 0, 0, 0, 0, 0, 0]), // u64 little-endian header length
      Buffer.from(header, 'ascii'),
      Buffer.from([0x00, 0x00, 0x80, 0x3f]), // 1.0f little-endian
      Buffer.from([0x00, 0x00, 0x00, 0xc0]), // -2.0f little-endian
      Buffer.from([0x07]), // u8 scalar
    ]);
    expect(file.toString('hex')).toBe(expected.toString('hex'));
  });

  it('round-trips every dtype, scalars and empty tensors bit for bit', () => {
    const tensors: Record<string, NamedTensor> = {
      f32: { dtype: 'F32', shape: [2, 3], data: new Float32Array([0, -0, 1.5, NaN, Infinity, -3.25e-20]) },
      f64: { dtype: 'F64', shape: [3], data: new Float64Array([Math.PI, -0, Number.MIN_VALUE]) },
      i32: { dtype: 'I32', shape: [1, 2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
      i64: { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 62n + 1n]) },
      u8: { dtype: 'U8', shape: [4], data: Buffer.from([0, 1, 254, 255]) },
      scalar: { dtype: 'F64', shape: [], data: new Float64Array([42]) },
      empty: { dtype: 'F32', shape: [0], data: new Float32Array(0) },
      empty2d: { dtype: 'I64', shape: [3, 0], data: new BigInt64Array(0) },
      ['__proto__']: { dtype: 'U8', shape: [1], data: new Uint8Array([9]) },
    };
    const metadata = { vocab: '["a","b"]', 'spec.hash': 'abc', unicode: 'ünïcødé ✓' };
    const file = encodeSafetensors(tensors, metadata);
    expect(file.readBigUInt64LE(0) % 8n).toBe(0n);
    const decoded = decodeSafetensors(file);
    expect(decoded.metadata).toEqual(metadata);
    expect(Object.keys(decoded.tensors)).toEqual(Object.keys(tensors));
    for (const [name, t] of Object.entries(tensors)) {
      const got = decoded.tensors[name];
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.data.length).toBe(t.data.length);
      expect(bytesOf(got).equals(bytesOf(t))).toBe(true);
    }
    expect(decoded.tensors.i64.data[1]).toBe(2n ** 62n + 1n);
  });

  it('returns aligned copies, also for tensors at unaligned offsets', () => {
    const file = encodeSafetensors({
      odd: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
      f: { dtype: 'F32', shape: [2], data: new Float32Array([0.5, 2]) },
      d: { dtype: 'F64', shape: [1], data: new Float64Array([-1]) },
    });
    // Decode from a view at an odd offset too.
    const shifted = new Uint8Array(file.length + 1);
    shifted.set(file, 1);
    const { tensors } = decodeSafetensors(shifted.subarray(1));
    expect(Array.from(tensors.f.data as Float32Array)).toEqual([0.5, 2]);
    expect(Array.from(tensors.d.data as Float64Array)).toEqual([-1]);
    for (const t of Object.values(tensors)) {
      expect(t.data.byteOffset).toBe(0);
      expect(t.data.buffer.byteLength).toBe(t.data.byteLength);
    }
    shifted.fill(0);
    expect(Array.from(tensors.f.data as Float32Array)).toEqual([0.5, 2]);
  });

  it('writes tensors in the order given and reads any order', () => {
    const file = encodeSafetensors({
      z: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) },
      a: { dtype: 'U8', shape: [1], data: new Uint8Array([2]) },
    });
    expect(file.toString('utf8')).toContain('"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a"');
    const reordered = frame(
      '{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
      Uint8Array.from([10, 20]),
    );
    const { tensors, metadata } = decodeSafetensors(reordered);
    expect(metadata).toEqual({});
    expect(tensors.a.data[0]).toBe(10);
    expect(tensors.b.data[0]).toBe(20);
  });

  it('align: lays tensors out widest dtype first so every offset is a multiple of its item size', () => {
    const file = encodeSafetensors(
      {
        odd: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
        f: { dtype: 'F32', shape: [1], data: new Float32Array([0.5]) },
        i: { dtype: 'I32', shape: [1], data: new Int32Array([7]) },
        d: { dtype: 'F64', shape: [1], data: new Float64Array([-1]) },
      },
      {},
      { align: true },
    );
    const header = JSON.parse(file.subarray(8, 8 + Number(file.readBigUInt64LE(0))).toString()) as Record<
      string,
      { data_offsets: number[] }
    >;
    expect(Object.keys(header)).toEqual(['d', 'f', 'i', 'odd']);
    expect(Object.values(header).map((t) => t.data_offsets)).toEqual([[0, 8], [8, 12], [12, 16], [16, 19]]);
    expect(decodeSafetensors(file).tensors.f.data[0]).toBe(0.5);
  });

  it('accepts a null __metadata__, trailing header spaces, and no tensors', () => {
    expect(decodeSafetensors(frame('{"__metadata__":null}   '))).toEqual({ tensors: {}, metadata: {} });
    expect(decodeSafetensors(encodeSafetensors({}))).toEqual({ tensors: {}, metadata: {} });
  });

  it('checksum: records the sha256 of the byte buffer and catches a bit flip', () => {
    const t = { w: { dtype: 'F32' as const, shape: [4], data: new Float32Array([1, 2, 3, 4]) } };
    const file = encodeSafetensors(t, { k: 'v' }, { checksum: true });
    const { metadata } = decodeSafetensors(file);
    const body = file.subarray(file.length - 16);
    expect(metadata[CHECKSUM_METADATA_KEY]).toBe(createHash('sha256').update(body).digest('hex'));
    expect(encodeSafetensors(t, { k: 'v' }).toString()).not.toContain(CHECKSUM_METADATA_KEY);

    const flipped = Buffer.from(file);
    flipped[flipped.length - 5] ^= 0x01;
    expectCorrupt(flipped, /checksum mismatch/);
  });

  it('checksum: never writes a stale value carried over in metadata', () => {
    const file = encodeSafetensors({ w: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) } }, {
      [CHECKSUM_METADATA_KEY]: '0'.repeat(64),
    });
    expect(decodeSafetensors(file).metadata[CHECKSUM_METADATA_KEY]).not.toBe('0'.repeat(64));
  });

  describe('rejects corrupt files with CorruptCheckpointError naming the file and the problem', () => {
    const f32x2 = new Uint8Array(8);
    const cases: [string, () => Uint8Array, RegExp][] = [
      ['shorter than 8 bytes', () => new Uint8Array(5), /5 bytes, shorter than the 8-byte/],
      ['empty file', () => new Uint8Array(0), /0 bytes, shorter/],
      [
        'header length past the end',
        () => {
          const b = frame('{}');
          b.writeBigUInt64LE(1000n);
          return b;
        },
        /header length 1000 runs past the end of the file \(2 bytes/,
      ],
      [
        'absurd header length',
        () => {
          const b = frame('{}');
          b.writeBigUInt64LE(2n ** 40n);
          return b;
        },
        /header length 1099511627776 exceeds the 100000000-byte limit/,
      ],
      ['header not JSON', () => frame('{"a":'), /header is not JSON/],
      ['header not an object', () => frame('[1, 2]'), /header must start with '\{'/],
      ['header not UTF-8', () => frame('{}').fill(0xff, 8, 9), /not valid UTF-8/],
      ['tensor entry not an object', () => frame('{"a":5}'), /tensor a: expected \{dtype, shape, data_offsets\}, got 5/],
      ['unknown dtype', () => frame('{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}', f32x2), /dtype expected one of F32, F64, I32, I64, U8, got "F16"/],
      ['missing dtype', () => frame('{"a":{"shape":[2],"data_offsets":[0,8]}}', f32x2), /got undefined/],
      ['shape not an array', () => frame('{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}', f32x2), /shape must be an array, got 2/],
      ['negative dimension', () => frame('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', f32x2), /non-negative integers, got \[-2\]/],
      ['fractional dimension', () => frame('{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}', f32x2), /non-negative integers/],
      ['string dimension', () => frame('{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}', f32x2), /non-negative integers/],
      ['huge shape', () => frame('{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', f32x2), /too many elements/],
      ['data_offsets not a pair', () => frame('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', f32x2), /data_offsets must be \[begin, end\]/],
      ['data_offsets negative', () => frame('{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}', f32x2), /data_offsets must be/],
      ['data_offsets reversed', () => frame('{"a":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}', f32x2), /end before they begin/],
      ['data_offsets out of range', () => frame('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', f32x2), /out of range, the byte buffer holds 8 bytes/],
      ['byte length != product(shape) * itemsize', () => frame('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', f32x2), /F32\[3\] needs 12 bytes, data_offsets \[0,8\] hold 8/],
      [
        'overlapping tensors',
        () => frame('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', new Uint8Array(12)),
        /tensor b at \[4,12\] overlaps tensor a ending at 8/,
      ],
      [
        'gap between tensors',
        () => frame('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', new Uint8Array(12)),
        /gap of 4 bytes between tensor a and tensor b/,
      ],
      ['first tensor not at 0', () => frame('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32x2), /gap of 4 bytes between \(start of byte buffer\)/],
      ['trailing bytes', () => frame('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32x2), /4 trailing bytes after the last tensor/],
      ['bytes but no tensors', () => frame('{}', f32x2), /8 trailing bytes/],
      ['metadata value not a string', () => frame('{"__metadata__":{"k":1}}'), /__metadata__.k must be a string, got 1/],
      ['metadata not an object', () => frame('{"__metadata__":["k"]}'), /__metadata__ must be an object of strings/],
      ['checksum not a digest', () => frame(`{"__metadata__":{"${CHECKSUM_METADATA_KEY}":"xyz"}}`), /is not a sha256 hex digest/],
    ];
    it.each(cases)('%s', (_label, make, problem) => expectCorrupt(make(), problem));

    it('a truncated file, whether cut in the byte buffer or in the header', () => {
      const file = encodeSafetensors({ w: { dtype: 'F64', shape: [4], data: new Float64Array([1, 2, 3, 4]) } });
      expectCorrupt(file.subarray(0, file.length - 3), /out of range, the byte buffer holds 29 bytes/);
      expectCorrupt(file.subarray(0, 20), /runs past the end of the file/);
      expectCorrupt(file.subarray(0, 7), /shorter than/);
    });
  });

  describe('refuses to write invalid tensors with CheckpointArgumentError', () => {
    const bad: [string, Record<string, NamedTensor>, RegExp][] = [
      ['data of another dtype', { w: { dtype: 'F32', shape: [1], data: new Float64Array([1]) } }, /dtype F32 expects a Float32Array, got Float64Array/],
      ['data length != product(shape)', { w: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } }, /shape \[2,2\] needs 4 elements, data has 3/],
      ['negative dimension', { w: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } }, /non-negative integers/],
      ['reserved name', { ['__metadata__']: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }, /reserved/],
    ];
    it.each(bad)('%s', (_label, tensors, message) => {
      expect(() => encodeSafetensors(tensors)).toThrow(CheckpointArgumentError);
      expect(() => encodeSafetensors(tensors)).toThrow(message);
    });
  });
});
