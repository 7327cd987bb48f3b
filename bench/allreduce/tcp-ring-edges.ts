/**
 * The transport bound: the ring engine of @unroll/collective (RingReduction, the
 * very code the gRPC ring runs) over plain TCP sockets with length-prefixed
 * binary frames — no HTTP/2, no protobuf, and no allocation per message in the
 * steady state: a good implementation, so that the gRPC ring is compared with
 * what the same engine achieves on a lean transport.
 *
 * Frame: u32 LE body length, then the body = u16 LE header length, header, payload.
 *   chunk header: u8 1, u8 phase (1 RS / 2 AG), u32 bucket, u32 round, u32 segment,
 *                 f64 offset, f64 total, f64 generation, f64 step, experiment utf8
 *   ack header:   u8 2, f64 step, u32 bucket (no payload)
 * As with gRPC, the receiver dials: member r connects to r−1, which writes chunks
 * on that socket; acks come back on it.
 *
 * Receiving (TcpReceiveEdge): the socket reads into one reused buffer
 * (`onread`, no fresh buffer per read); the parser copies each payload once,
 * straight into a pooled 4-byte-aligned buffer that the reduction sums from
 * directly and hands back with `release`. Messages wait in the gRPC edge's
 * MessageInbox, which pauses the socket at its high-water mark.
 * Sending (TcpSendEdge): header and payload view leave in one writev (cork);
 * the payload is not copied in user space. Up to {@link SEND_WINDOW_BYTES} may
 * be queued in the socket before `send` waits for 'drain' — the counterpart of
 * the gRPC receiver's 16 MiB HTTP/2 window (waiting for 'drain' after every
 * 1 MiB write would leave the link idle while the next chunk is prepared).
 */
import * as net from 'node:net';
import type { status } from '@grpc/grpc-js';
import { Deferred, FailureListeners, MessageInbox, type PeerRef, type RingReceiveEdge, type RingSendEdge } from '@unroll/collective';
import type { RingDownstream, RingDownstream__Output } from '@unroll/proto';

const CHUNK = 1;
const ACK = 2;
/** Fixed part of a chunk header, before the experiment bytes. */
const CHUNK_HEADER_FIXED = 1 + 1 + 4 * 3 + 8 * 4;
const ACK_HEADER = 1 + 8 + 4;
const EMPTY = Buffer.alloc(0);
/** Bytes queued in the sending socket before `send` waits (the gRPC receiver's window is 16 MiB). */
export const SEND_WINDOW_BYTES = 16 * 1024 * 1024;
/** Size of the buffer each read of the receiving socket lands in. */
const READ_BUFFER_BYTES = 256 * 1024;

/** Payload buffers reused across messages: a fresh megabyte per message costs page faults and GC. */
class PayloadPool {
  private readonly free: ArrayBuffer[] = [];
  private readonly owned = new WeakSet<ArrayBuffer>();
  constructor(private readonly capacity = 32) {}

  acquire(bytes: number): Buffer {
    let i = this.free.findIndex((b) => b.byteLength >= bytes);
    if (i < 0 && this.free.length) i = 0;
    let buffer = i >= 0 ? this.free.splice(i, 1)[0] : undefined;
    if (!buffer || buffer.byteLength < bytes) {
      buffer = new ArrayBuffer(Math.max(bytes, 1));
      this.owned.add(buffer);
    }
    return Buffer.from(buffer, 0, bytes);
  }

  release(payload: Uint8Array): void {
    const buffer = payload.buffer as ArrayBuffer;
    if (this.owned.has(buffer) && this.free.length < this.capacity && !this.free.includes(buffer)) this.free.push(buffer);
  }
}

/**
 * Incremental frame parser: the frame prefix and header are gathered into a small
 * buffer, the payload is copied straight to where `payloadFor` says.
 */
class FrameParser {
  private readonly head = Buffer.alloc(6 + 64 * 1024);
  private headHave = 0;
  private headNeed = 6;
  private bodyBytes = 0;
  private headerBytes = 0;
  private payload: Buffer | undefined;
  private payloadHave = 0;

  constructor(
    private readonly payloadFor: (bytes: number) => Buffer,
    private readonly onFrame: (header: Buffer, payload: Buffer | undefined) => void,
  ) {}

  push(data: Uint8Array, from = 0, to = data.length): void {
    let at = from;
    while (at < to) {
      if (this.payload) {
        const n = Math.min(to - at, this.payload.length - this.payloadHave);
        this.payload.set(data.subarray(at, at + n), this.payloadHave);
        this.payloadHave += n;
        at += n;
        if (this.payloadHave === this.payload.length) this.emit();
        continue;
      }
      const n = Math.min(to - at, this.headNeed - this.headHave);
      this.head.set(data.subarray(at, at + n), this.headHave);
      this.headHave += n;
      at += n;
      if (this.headHave < this.headNeed) continue;
      if (this.headNeed === 6) {
        this.bodyBytes = this.head.readUInt32LE(0);
        this.headerBytes = this.head.readUInt16LE(4);
        this.headNeed = 6 + this.headerBytes;
        if (this.headHave < this.headNeed) continue;
      }
      const payloadBytes = this.bodyBytes - 2 - this.headerBytes;
      if (payloadBytes > 0) {
        this.payload = this.payloadFor(payloadBytes);
        this.payloadHave = 0;
      } else this.emit();
    }
  }

  private emit(): void {
    const header = this.head.subarray(6, 6 + this.headerBytes);
    const payload = this.payload;
    this.payload = undefined;
    this.headHave = 0;
    this.headNeed = 6;
    this.onFrame(header, payload);
  }
}

function chunkHeader(message: RingDownstream): Buffer {
  const c = message.chunk;
  if (!c || !c.tag) throw new Error('tcp ring sends chunks only');
  const experiment = Buffer.from(c.tag.experiment ?? '');
  const payloadBytes = (c.payload as Uint8Array).byteLength;
  const header = Buffer.allocUnsafe(6 + CHUNK_HEADER_FIXED + experiment.length);
  header.writeUInt32LE(2 + CHUNK_HEADER_FIXED + experiment.length + payloadBytes, 0);
  header.writeUInt16LE(CHUNK_HEADER_FIXED + experiment.length, 4);
  let o = 6;
  o = header.writeUInt8(CHUNK, o);
  o = header.writeUInt8(c.phase === 'REDUCE_SCATTER' ? 1 : 2, o);
  o = header.writeUInt32LE(c.bucket ?? 0, o);
  o = header.writeUInt32LE(c.round ?? 0, o);
  o = header.writeUInt32LE(c.segment ?? 0, o);
  for (const v of [c.offset, c.total_elements, c.tag.generation, c.tag.step]) o = header.writeDoubleLE(Number(v), o);
  experiment.copy(header, o);
  return header;
}

function parseChunk(header: Buffer, payload: Buffer): RingDownstream__Output {
  const phase = header.readUInt8(1) === 1 ? 'REDUCE_SCATTER' : 'ALL_GATHER';
  const [bucket, round, segment] = [2, 6, 10].map((o) => header.readUInt32LE(o));
  const [offset, total, generation, step] = [14, 22, 30, 38].map((o) => header.readDoubleLE(o));
  return {
    body: 'chunk',
    chunk: {
      tag: { experiment: header.toString('utf8', CHUNK_HEADER_FIXED), generation: String(generation), step: String(step) },
      bucket,
      phase,
      round,
      segment,
      offset: String(offset),
      total_elements: String(total),
      dtype: 'FLOAT32',
      payload,
      padding: EMPTY,
    },
  };
}

/** Receiving end: the socket this member dialled on its predecessor. */
export class TcpReceiveEdge implements RingReceiveEdge {
  private readonly inbox: MessageInbox<RingDownstream__Output>;
  private readonly pool = new PayloadPool();
  private readonly parser = new FrameParser(
    (bytes) => this.pool.acquire(bytes),
    (header, payload) => this.inbox.push(parseChunk(header, payload ?? EMPTY)),
  );

  constructor(
    private readonly socket: net.Socket,
    readonly predecessor: PeerRef,
  ) {
    this.inbox = new MessageInbox(socket, 'TcpReceiveEdge');
  }

  /** Feeds bytes read by the socket (its `onread` callback); they are copied out before this returns. */
  onRead(data: Uint8Array, bytes: number): void {
    this.parser.push(data, 0, bytes);
  }

  ready(): Promise<void> {
    return this.inbox.ready();
  }

  take(): RingDownstream__Output {
    return this.inbox.take();
  }

  release(message: RingDownstream__Output): void {
    if (message.chunk) this.pool.release(message.chunk.payload);
  }

  refuse(code: status, reason: string): void {
    this.socket.destroy(new Error(`refused (${code}): ${reason}`));
  }

  ack(_experiment: string, _generation: number, step: number, bucket: number): void {
    const frame = Buffer.allocUnsafe(6 + ACK_HEADER);
    frame.writeUInt32LE(2 + ACK_HEADER, 0);
    frame.writeUInt16LE(ACK_HEADER, 4);
    frame.writeUInt8(ACK, 6);
    frame.writeDoubleLE(step, 7);
    frame.writeUInt32LE(bucket, 15);
    this.socket.write(frame);
  }
}

/** Sending end: the socket the successor dialled on this member. */
export class TcpSendEdge implements RingSendEdge {
  private readonly failures = new FailureListeners();
  private readonly acks = new Map<string, Deferred>();
  private unflushed = 0;
  private flushWaiters: Deferred[] = [];
  constructor(
    private readonly socket: net.Socket,
    readonly successor: PeerRef,
  ) {
    const parser = new FrameParser(
      () => Buffer.alloc(0),
      (header) => {
        if (header.readUInt8(0) === ACK) this.ackFor(header.readDoubleLE(1), header.readUInt32LE(9)).resolve();
      },
    );
    socket.on('data', (d: Buffer) => parser.push(d));
    socket.on('error', (e) => void this.failures.fail(e));
  }

  onFailure(listener: (error: Error) => void): () => void {
    return this.failures.add(listener);
  }

  async send(message: RingDownstream): Promise<void> {
    const payload = message.chunk?.payload as Uint8Array;
    this.socket.cork();
    this.socket.write(chunkHeader(message));
    this.unflushed++;
    this.socket.write(payload, () => {
      if (--this.unflushed === 0) for (const w of this.flushWaiters.splice(0)) w.resolve();
    });
    this.socket.uncork();
    if (this.socket.writableLength > SEND_WINDOW_BYTES) await new Promise<void>((resolve) => this.socket.once('drain', resolve));
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

/** Listens on 127.0.0.1:0; resolves the socket the successor dials through `accepted`. */
/**
 * Both edges of member `rank` of a raw-TCP ring over `peers` (listening on `listener`):
 * the receiver dials, as in the gRPC ring — member r reads from the socket it
 * opened on r − 1 and sends on the one r + 1 opened on it.
 */
export async function connectTcpRing(listener: { accepted: Promise<net.Socket> }, peers: readonly PeerRef[], rank: number): Promise<{ inbound: TcpReceiveEdge; outbound: TcpSendEdge }> {
  const size = peers.length;
  const successor = peers[(rank + 1) % size];
  const predecessor = peers[(rank - 1 + size) % size];
  const [dialled, outSocket] = await Promise.all([dialTcp(predecessor.address), listener.accepted]);
  const outbound = new TcpSendEdge(outSocket, successor);
  const inbound = new TcpReceiveEdge(dialled.socket, predecessor);
  dialled.setReader((data, bytes) => inbound.onRead(data, bytes));
  return { inbound, outbound };
}

export async function listenTcp(): Promise<{ port: number; accepted: Promise<net.Socket>; close(): void }> {
  const accepted = new Deferred<net.Socket>();
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    accepted.resolve(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, accepted: accepted.promise, close: () => server.close() };
}

/** Dials the predecessor; every read lands in one reused buffer and is handed to `onRead` (set once the edge exists). */
export async function dialTcp(address: string): Promise<{ socket: net.Socket; setReader(onRead: (data: Uint8Array, bytes: number) => void): void }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  let reader: ((data: Uint8Array, bytes: number) => void) | undefined;
  const early: Buffer[] = [];
  const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  const socket = net.connect({
    port,
    host,
    onread: {
      buffer: readBuffer,
      callback: (bytes: number, data: Uint8Array): boolean => {
        if (reader) reader(data, bytes);
        else early.push(Buffer.from(data.subarray(0, bytes)));
        return true;
      },
    },
  });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return {
    socket,
    setReader(onRead) {
      reader = onRead;
      for (const b of early.splice(0)) onRead(b, b.length);
    },
  };
}
