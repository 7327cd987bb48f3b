import { CorruptStateError } from './cluster-errors';

/**
 * The bytes of one stored hidden state (a list of Float32Array layers):
 *
 *   offset 0   u32 LE  magic 0x31534855 ("UHS1")
 *   offset 4   u32 LE  L, the number of layers
 *   offset 8   u32 LE  × L   the length (in floats) of each layer
 *   then       f32 LE  × Σ lengths   the layers, one after another
 *
 * One value per state keeps a put or get to a single Redis command, and the header
 * lets a reader refuse truncated or foreign bytes instead of returning garbage.
 */
const MAGIC = 0x31534855;
const HEADER_FIXED = 8;

export function encodeHiddenState(layers: readonly Float32Array[]): Buffer {
  const header = HEADER_FIXED + 4 * layers.length;
  const floats = layers.reduce((n, l) => n + l.length, 0);
  const out = Buffer.alloc(header + 4 * floats);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(layers.length, 4);
  let at = header;
  for (const [i, layer] of layers.entries()) {
    out.writeUInt32LE(layer.length, HEADER_FIXED + 4 * i);
    writeFloatsLE(out, at, layer);
    at += 4 * layer.length;
  }
  return out;
}

export function decodeHiddenState(bytes: Buffer, what = 'hidden state'): Float32Array[] {
  const bad = (why: string): never => {
    throw new CorruptStateError(`${what} is corrupt (${bytes.length} bytes): ${why}`);
  };
  if (bytes.length < HEADER_FIXED) bad('shorter than the 8-byte header');
  if (bytes.readUInt32LE(0) !== MAGIC) bad(`bad magic 0x${bytes.readUInt32LE(0).toString(16)}, expected 0x${MAGIC.toString(16)}`);
  const count = bytes.readUInt32LE(4);
  const header = HEADER_FIXED + 4 * count;
  if (bytes.length < header) bad(`header names ${count} layers but the value ends inside it`);
  const lengths: number[] = [];
  for (let i = 0; i < count; i++) lengths.push(bytes.readUInt32LE(HEADER_FIXED + 4 * i));
  const expected = header + 4 * lengths.reduce((n, l) => n + l, 0);
  if (bytes.length !== expected) bad(`layer lengths [${lengths.join(', ')}] need ${expected} bytes`);
  let at = header;
  return lengths.map((length) => {
    const layer = readFloatsLE(bytes, at, length);
    at += 4 * length;
    return layer;
  });
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function writeFloatsLE(out: Buffer, at: number, layer: Float32Array): void {
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(layer.buffer, layer.byteOffset, layer.byteLength), at);
  } else {
    for (let i = 0; i < layer.length; i++) out.writeFloatLE(layer[i], at + 4 * i);
  }
}

function readFloatsLE(bytes: Buffer, at: number, length: number): Float32Array {
  const layer = new Float32Array(length);
  if (LITTLE_ENDIAN) {
    new Uint8Array(layer.buffer).set(bytes.subarray(at, at + 4 * length));
  } else {
    for (let i = 0; i < length; i++) layer[i] = bytes.readFloatLE(at + 4 * i);
  }
  return layer;
}
