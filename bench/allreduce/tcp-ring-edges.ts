/**
 * The transport bound: the ring engine of @unroll/collective (RingReduction, the
 * very code the gRPC ring runs) over plain TCP sockets with length-prefixed
 * binary frames — no HTTP/2, no protobuf, no per-message copies beyond the
 * kernel's.
 *
 * Frame: u32 LE body length, then the body:
 *   chunk: u8 1, u32 bucket, u8 phase (1 RS / 2 AG), u32 round, u32 segment,
 *          f64 offset, f64 total, f64 generation, f64 step, u16 experiment bytes,
 *          experiment utf8, payload (rest of the body)
 *   ack:   u8 2, f64 step, u32 bucket
 * Member r dials r+1 and writes chunks; acks come back on the same socket.
 */
import * as net from 'node:net';
import type { status } from '@grpc/grpc-js';
import { Deferred, type PeerRef, type RingReceiveEdge, type RingSendEdge } from '@unroll/collective';
import type { RingDownstream, RingDownstream__Output } from '@unroll/proto';

const CHUNK = 1;
const ACK = 2;

/** Splits a byte stream into frames, copying only when a frame straddles reads. */
class FrameReader {
  private parts: Buffer[] = [];
  private buffered = 0;
  constructor(private readonly onFrame: (body: Buffer) => void) {}

  push(data: Buffer): void {
    this.parts.push(data);
    this.buffered += data.length;
    for (;;) {
      if (this.buffered < 4) return;
      const head = this.parts[0].length >= 4 ? this.parts[0] : Buffer.concat(this.parts);
      const length = head.readUInt32LE(0);
      if (this.buffered < 4 + length) return;
      const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
      this.onFrame(all.subarray(4, 4 + length));
      const rest = all.subarray(4 + length);
      this.parts = rest.length ? [rest] : [];
      this.buffered = rest.length;
    }
  }
}

function chunkFrame(message: RingDownstream): Buffer[] {
  const c = message.chunk;
  if (!c || !c.tag) throw new Error('tcp ring sends chunks only');
  const experiment = Buffer.from(c.tag.experiment ?? '');
  const payload = c.payload as Buffer;
  const header = Buffer.alloc(4 + 1 + 4 + 1 + 4 + 4 + 8 * 4 + 2 + experiment.length);
  let o = 4;
  o = header.writeUInt8(CHUNK, o);
  o = header.writeUInt32LE(c.bucket ?? 0, o);
  o = header.writeUInt8(c.phase === 'REDUCE_SCATTER' ? 1 : 2, o);
  o = header.writeUInt32LE(c.round ?? 0, o);
  o = header.writeUInt32LE(c.segment ?? 0, o);
  for (const v of [c.offset, c.total_elements, c.tag.generation, c.tag.step]) o = header.writeDoubleLE(Number(v), o);
  o = header.writeUInt16LE(experiment.length, o);
  experiment.copy(header, o);
  header.writeUInt32LE(header.length - 4 + payload.length, 0);
  return [header, payload];
}

function parseChunk(body: Buffer): RingDownstream__Output {
  let o = 1;
  const bucket = body.readUInt32LE(o);
  const phase = body.readUInt8((o += 4)) === 1 ? 'REDUCE_SCATTER' : 'ALL_GATHER';
  const round = body.readUInt32LE((o += 1));
  const segment = body.readUInt32LE((o += 4));
  const [offset, total, generation, step] = [0, 1, 2, 3].map((k) => body.readDoubleLE(o + 4 + 8 * k));
  o += 4 + 32;
  const n = body.readUInt16LE(o);
  const experiment = body.toString('utf8', o + 2, o + 2 + n);
  return {
    body: 'chunk',
    chunk: {
      tag: { experiment, generation: String(generation), step: String(step) },
      bucket,
      phase,
      round,
      segment,
      offset: String(offset),
      total_elements: String(total),
      dtype: 'FLOAT32',
      payload: body.subarray(o + 2 + n),
    },
  };
}

/** Receiving end: the socket the predecessor dialled. */
export class TcpReceiveEdge implements RingReceiveEdge {
  private readonly inbox: RingDownstream__Output[] = [];
  private waiter: Deferred<RingDownstream__Output> | undefined;
  constructor(
    private readonly socket: net.Socket,
    readonly predecessor: PeerRef,
  ) {
    const reader = new FrameReader((body) => {
      const message = parseChunk(body);
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(message);
      } else this.inbox.push(message);
    });
    socket.on('data', (d: Buffer) => reader.push(d));
  }
  next(): Promise<RingDownstream__Output> {
    const m = this.inbox.shift();
    if (m) return Promise.resolve(m);
    this.waiter = new Deferred();
    return this.waiter.promise;
  }
  refuse(code: status, reason: string): void {
    this.socket.destroy(new Error(`refused (${code}): ${reason}`));
  }
  ack(_experiment: string, _generation: number, step: number, bucket: number): void {
    const frame = Buffer.alloc(4 + 1 + 8 + 4);
    frame.writeUInt32LE(13, 0);
    frame.writeUInt8(ACK, 4);
    frame.writeDoubleLE(step, 5);
    frame.writeUInt32LE(bucket, 13);
    this.socket.write(frame);
  }
}

/** Sending end: the socket this member dialled on its successor. */
export class TcpSendEdge implements RingSendEdge {
  readonly failed = new Deferred<never>();
  private readonly acks = new Map<string, Deferred>();
  private unflushed = 0;
  private flushWaiters: Deferred[] = [];
  constructor(
    private readonly socket: net.Socket,
    readonly successor: PeerRef,
  ) {
    const reader = new FrameReader((body) => {
      if (body.readUInt8(0) === ACK) this.ackFor(body.readDoubleLE(1), body.readUInt32LE(9)).resolve();
    });
    socket.on('data', (d: Buffer) => reader.push(d));
    socket.on('error', (e) => this.failed.reject(e));
  }
  async send(message: RingDownstream): Promise<void> {
    const [header, payload] = chunkFrame(message);
    this.socket.write(header);
    this.unflushed++;
    const writable = this.socket.write(payload, () => {
      if (--this.unflushed === 0) for (const w of this.flushWaiters.splice(0)) w.resolve();
    });
    if (!writable) await new Promise<void>((resolve) => this.socket.once('drain', resolve));
  }
  /** Resolves when the kernel has taken every payload written so far (the socket holds references until then). */
  flushed(): Promise<void> {
    if (this.unflushed === 0) return Promise.resolve();
    const w = new Deferred();
    this.flushWaiters.push(w);
    return w.promise;
  }
  acked(step: number, bucket: number): Promise<void> {
    const d = this.ackFor(step, bucket);
    return d.promise.then(() => void this.acks.delete(`${step}/${bucket}`));
  }
  private ackFor(step: number, bucket: number): Deferred {
    const key = `${step}/${bucket}`;
    let d = this.acks.get(key);
    if (!d) this.acks.set(key, (d = new Deferred()));
    return d;
  }
}

/** Listens on 127.0.0.1:0; resolves the accepted socket of the predecessor through `accepted`. */
export async function listenTcp(): Promise<{ port: number; accepted: Promise<net.Socket>; close(): void }> {
  const accepted = new Deferred<net.Socket>();
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    accepted.resolve(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, accepted: accepted.promise, close: () => server.close() };
}

export async function dialTcp(address: string): Promise<net.Socket> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const socket = net.connect(port, host);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}
