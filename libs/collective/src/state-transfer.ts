/**
 * State transfer to a joining member (DESIGN.md: "enters at the next step; gets
 * parameters and optimizer state from a member over gRPC").
 *
 * 1. The joiner calls `FetchState {experiment, generation}` on any live member.
 * 2. The member asks its {@link StateSource} for a snapshot of the last committed
 *    state; none → NOT_FOUND; the member has seen a newer generation than the
 *    joiner's → FAILED_PRECONDITION.
 * 3. Tensors stream back in order, each cut into chunks of at most the chunk size.
 * 4. The joiner reassembles them and checks every chunk's offset and length.
 */
import * as grpc from '@grpc/grpc-js';
import { loadCollectiveProto, type RingClient, type StateChunk__Output } from '@unroll/proto';
import { CollectiveError, MessageRejectedError, StaleGenerationError } from './collective-errors';
import { RING_TRANSPORT_DEFAULTS, channelCredentials, channelOptions, type RingTlsOptions } from './grpc-options';
import { GENERATION_METADATA_KEY } from './ring-inbound';
import { endWithStatus } from './ring-outbound';
import type { FetchStateCall } from './ring-server';

export interface StateTensor {
  /** PyTorch-style name (`weight_ih_l0`, `optimizer.m.weight_ih_l0`, ...). */
  name: string;
  shape: number[];
  data: Float32Array;
}

/** The last committed parameters and optimizer state of an experiment. */
export interface StateSnapshot {
  experiment: string;
  generation: number;
  step: number;
  tensors: StateTensor[];
}

/** Supplies snapshots to joiners; the worker implements it over its parameter store. */
export interface StateSource {
  snapshot(experiment: string): Promise<StateSnapshot | undefined>;
}

/** Serves one FetchState call. `highestGeneration` is the newest generation this member has seen for the experiment. */
export async function serveFetchState(call: FetchStateCall, source: StateSource | undefined, chunkBytes: number, highestGeneration: number): Promise<void> {
  const { experiment, generation, max_chunk_bytes } = call.request;
  if (Number(generation) < highestGeneration) {
    endWithStatus(call, grpc.status.FAILED_PRECONDITION, `generation ${generation} is stale; ${highestGeneration} exists`, highestGeneration);
    return;
  }
  const snapshot = source ? await source.snapshot(experiment) : undefined;
  if (!snapshot) {
    call.emit('error', { code: grpc.status.NOT_FOUND, details: `no state for experiment ${JSON.stringify(experiment)}` });
    return;
  }
  const elementsPerChunk = Math.max(1, Math.floor(Math.min(max_chunk_bytes || chunkBytes, chunkBytes) / 4));
  for (const tensor of snapshot.tensors) {
    const total = tensor.data.length;
    for (let offset = 0; offset === 0 || offset < total; offset += elementsPerChunk) {
      const piece = tensor.data.subarray(offset, Math.min(total, offset + elementsPerChunk));
      const ok = call.write({
        experiment,
        generation: snapshot.generation,
        step: snapshot.step,
        name: tensor.name,
        shape: tensor.shape,
        dtype: 'FLOAT32',
        offset,
        total_elements: total,
        payload: Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength),
      });
      if (!ok) await new Promise<void>((resolve) => call.once('drain', resolve));
      if (call.cancelled) return;
    }
  }
  call.end();
}

export interface FetchStateOptions {
  tls?: RingTlsOptions;
  /** @defaultValue 60 s — a few hundred MiB of state at loopback speed fits easily. */
  timeoutMs?: number;
  /** @defaultValue 1 MiB (the ring's chunk size). */
  chunkBytes?: number;
}

/** Pulls the state of `experiment` from the member at `address`. */
export async function fetchState(address: string, request: { experiment: string; generation: number }, options: FetchStateOptions = {}): Promise<StateSnapshot> {
  const chunkBytes = options.chunkBytes ?? RING_TRANSPORT_DEFAULTS.chunkBytes;
  const Ring = loadCollectiveProto().unroll.v1.Ring;
  const client: RingClient = new Ring(address, channelCredentials(options.tls), channelOptions({ ...RING_TRANSPORT_DEFAULTS, chunkBytes, tls: options.tls }));
  try {
    const call = client.FetchState(
      { experiment: request.experiment, generation: request.generation, max_chunk_bytes: chunkBytes },
      { deadline: Date.now() + (options.timeoutMs ?? 60_000) },
    );
    const tensors: StateTensor[] = [];
    let snapshot: Omit<StateSnapshot, 'tensors'> | undefined;
    let filled = 0;
    try {
      for await (const chunk of call as AsyncIterable<StateChunk__Output>) {
        snapshot ??= { experiment: chunk.experiment, generation: Number(chunk.generation), step: Number(chunk.step) };
        const total = Number(chunk.total_elements);
        let tensor = tensors[tensors.length - 1];
        if (!tensor || tensor.name !== chunk.name) {
          if (tensor && filled !== tensor.data.length) throw new CollectiveError(`state tensor ${tensor.name} ended after ${filled} of ${tensor.data.length} elements`);
          tensor = { name: chunk.name, shape: chunk.shape, data: new Float32Array(total) };
          tensors.push(tensor);
          filled = 0;
        }
        if (Number(chunk.offset) !== filled || filled + chunk.payload.length / 4 > total) {
          throw new MessageRejectedError(grpc.status.INVALID_ARGUMENT, `state chunk of ${chunk.name}: expected offset ${filled}, got ${chunk.offset}`);
        }
        chunk.payload.copy(Buffer.from(tensor.data.buffer), filled * 4);
        filled += chunk.payload.length / 4;
      }
    } catch (error) {
      throw toStateError(error, request.generation);
    }
    const last = tensors[tensors.length - 1];
    if (last && filled !== last.data.length) throw new CollectiveError(`state tensor ${last.name} ended after ${filled} of ${last.data.length} elements`);
    return { ...(snapshot ?? { experiment: request.experiment, generation: request.generation, step: 0 }), tensors };
  } finally {
    client.close();
  }
}

function toStateError(error: unknown, generation: number): Error {
  if (error instanceof CollectiveError) return error;
  const e = error as Partial<grpc.ServiceError>;
  if (e.code === grpc.status.FAILED_PRECONDITION) {
    return new StaleGenerationError(generation, Number(e.metadata?.get(GENERATION_METADATA_KEY)[0] ?? generation), e.details ?? '');
  }
  if (e.code !== undefined) return new MessageRejectedError(e.code, e.details ?? 'FetchState failed');
  return error instanceof Error ? error : new CollectiveError(String(error));
}
