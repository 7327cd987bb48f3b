/**
 * The baseline the ring should beat: a parameter server over gRPC. Rank 0 is the
 * server; every other rank opens one bidirectional stream to it.
 *
 * 1. Each worker streams its gradient to rank 0 in 1 MiB chunks (flow control
 *    honoured), tagged with the step and the chunk index.
 * 2. Rank 0 adds every chunk into its own copy (same reducer as the ring); when
 *    chunk j has all N−1 contributions it writes the summed chunk j to every
 *    worker.
 * 3. Workers copy the sums into place (no intermediate copy); rank 0 is done when it has written every
 *    sum, a worker when it has received every sum.
 * Rank 0 receives (N−1)·S and sends (N−1)·S bytes: its link is the bottleneck.
 * The messages are the ring's own protobuf (`RingDownstream`), so the wire
 * encoding costs the same as the ring's. Workers are the gRPC clients and raise
 * their receive window exactly as the ring does; the upload direction
 * (client → server) runs with grpc-js's default server window, which grpc-js
 * does not let a server raise.
 */
import * as grpc from '@grpc/grpc-js';
import { Deferred, type Reducer } from '@unroll/collective';
import { loadCollectiveProto, serializeRingDownstream, type RingDownstream, type RingDownstream__Output } from '@unroll/proto';

const ring = loadCollectiveProto().unroll.v1.Ring.service.Stream;
const deserialize = (b: Buffer): RingDownstream__Output => ring.responseDeserialize(b);

/**
 * Same codec as the ring: the server side (rank 0's sums) serialises through the
 * ring's scratch-buffer serializer, the client side (workers' uploads) through
 * protobufjs — grpc-js frames client messages asynchronously, so a reused buffer
 * is not safe there (see @unroll/proto ring-downstream-codec.ts).
 */
export const PARAMETER_SERVER_SERVICE: grpc.ServiceDefinition = {
  Exchange: {
    path: '/unroll.bench.v1.ParameterServer/Exchange',
    requestStream: true,
    responseStream: true,
    requestSerialize: serializeRingDownstream,
    requestDeserialize: deserialize,
    responseSerialize: (m: RingDownstream): Buffer => ring.responseSerialize(m),
    responseDeserialize: deserialize,
  },
};

type Stream = grpc.ServerDuplexStream<RingDownstream__Output, RingDownstream>;
type ClientStream = grpc.ClientDuplexStream<RingDownstream, RingDownstream__Output>;

function chunkMessage(step: number, index: number, offset: number, data: Float32Array, length: number): RingDownstream {
  return {
    chunk: {
      tag: { experiment: 'bench', generation: 1, step },
      bucket: index,
      phase: 'REDUCE_SCATTER',
      offset,
      total_elements: data.length,
      dtype: 'FLOAT32',
      payload: Buffer.from(data.buffer, data.byteOffset + offset * 4, length * 4),
    },
  };
}

async function write(stream: { write(m: RingDownstream): boolean; once(e: 'drain', f: () => void): unknown }, m: RingDownstream): Promise<void> {
  if (!stream.write(m)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

/** Rank 0: accepts N−1 worker streams, then sums per step. */
export class ParameterServer {
  private readonly streams: Stream[] = [];
  private readonly connected = new Deferred();
  private onChunk: ((m: RingDownstream__Output) => void) | undefined;
  /** Chunks of a step that arrive before rank 0 starts that step (workers may start first). */
  private early: RingDownstream__Output[] = [];

  constructor(private readonly workers: number) {}

  readonly handlers: grpc.UntypedServiceImplementation = {
    Exchange: (call: Stream) => {
      this.streams.push(call);
      call.on('data', (m: RingDownstream__Output) => (this.onChunk ? this.onChunk(m) : this.early.push(m)));
      call.on('error', () => undefined);
      if (this.streams.length === this.workers) this.connected.resolve();
    },
  };

  async reduce(step: number, data: Float32Array, chunkElements: number, reducer: Reducer): Promise<void> {
    await this.connected.promise;
    const chunks = Math.max(1, Math.ceil(data.length / chunkElements));
    const counts = new Array<number>(chunks).fill(0);
    const pending: Promise<void>[] = [];
    let summed = 0;
    const done = new Deferred();
    this.onChunk = (m) => {
      const c = m.chunk;
      if (!c) return;
      if (Number(c.tag?.step) !== step) {
        this.early.push(m);
        return;
      }
      const j = c.bucket;
      const offset = Number(c.offset);
      pending.push(
        reducer.addInto(data, offset, c.payload).then(async () => {
          if (++counts[j] < this.workers) return;
          const length = Math.min(chunkElements, data.length - offset);
          const sum = chunkMessage(step, j, offset, data, length);
          await Promise.all(this.streams.map((s) => write(s, sum)));
          if (++summed === chunks) done.resolve();
        }),
      );
    };
    const early = this.early;
    this.early = [];
    early.forEach((m) => this.onChunk?.(m));
    await done.promise;
    await Promise.all(pending);
    this.onChunk = undefined;
  }
}

/** Ranks 1..N−1: one stream to rank 0. */
export class ParameterServerWorker {
  private onChunk: ((m: RingDownstream__Output) => void) | undefined;
  constructor(private readonly stream: ClientStream) {
    stream.on('data', (m: RingDownstream__Output) => this.onChunk?.(m));
    stream.on('error', () => undefined);
  }

  async reduce(step: number, data: Float32Array, chunkElements: number): Promise<void> {
    const chunks = Math.max(1, Math.ceil(data.length / chunkElements));
    let received = 0;
    const done = new Deferred();
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    // The sum of chunk j arrives only after rank 0 has this worker's chunk j, i.e.
    // after grpc-js has serialised it: written in place (as the ring does), no copy.
    this.onChunk = (m) => {
      const c = m.chunk;
      if (!c || Number(c.tag?.step) !== step) return;
      c.payload.copy(bytes, Number(c.offset) * 4);
      if (++received === chunks) done.resolve();
    };
    for (let j = 0; j < chunks; j++) {
      const offset = j * chunkElements;
      await write(this.stream, chunkMessage(step, j, offset, data, Math.min(chunkElements, data.length - offset)));
    }
    await done.promise;
  }
}
