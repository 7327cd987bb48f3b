/**
 * One member of a benchmark group, in its own process (forked by run.ts with
 * `--require tsx/cjs`). argv: transport, rank, size, reducer.
 *
 * IPC: → {listening, address}; ← {peers}; → {ready}; then per iteration
 * ← {prepare, elements} → {prepared} (fill, untimed, so that no member's timer
 * runs while another is still filling); ← {iterate, step} → {done, step, ms, cpuMs};
 * ← {check} → {checked, maxError} (untimed: a member that finished first would
 * otherwise run its check loop on a core the slower members still need);
 * finally ← {exit}.
 *
 * Allocator: every member, whatever its transport, calls tuneAllocator()
 * (@unroll/kernels-native: glibc mmap/trim thresholds, as a worker does) before
 * anything else, unless ALLREDUCE_ALLOCATOR=glibc (glibc's defaults, for A/B runs);
 * what it did goes to the parent in `listening`.
 *
 * Member r fills x[i] = (r+1)·((i mod 1024) − 512)/512 before each timed
 * iteration (untimed); every partial sum is exact in float32, so each transport's
 * result is checked bit-exact (maxError must be 0).
 */
import * as fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  COLLECTIVE_DEFAULTS,
  GrpcRingCollective,
  RING_TRANSPORT_DEFAULTS,
  RingReduction,
  RingServer,
  createReducer,
  type ReducerKind,
  type RingPeer,
} from '@unroll/collective';
import { tuneAllocator } from '@unroll/kernels-native';
import { ParameterServer, ParameterServerWorker, PARAMETER_SERVER_SERVICE } from './grpc-parameter-server';
import { connectTcpRing, listenTcp } from './tcp-ring-edges';

export type Transport = 'grpc-ring' | 'tcp-ring' | 'grpc-ps';
type FromParent =
  | { type: 'peers'; peers: RingPeer[] }
  | { type: 'prepare'; elements: number }
  | { type: 'iterate'; step: number }
  | { type: 'check' }
  | { type: 'exit' };
export type FromMember =
  | { type: 'listening'; address: string; allocator: string }
  | { type: 'ready' }
  | { type: 'prepared' }
  | { type: 'done'; step: number; ms: number; cpuMs: number }
  | { type: 'checked'; maxError: number }
  | { type: 'failed'; step: number; message: string };

const [transport, rankArg, sizeArg, reducerArg] = process.argv.slice(2) as [Transport, string, string, ReducerKind];
const rank = Number(rankArg);
const size = Number(sizeArg);
const chunkBytes = Number(process.env.ALLREDUCE_CHUNK_BYTES ?? RING_TRANSPORT_DEFAULTS.chunkBytes);
const chunkElements = chunkBytes / 4;
const send = (m: FromMember): void => void process.send?.(m);
const allocator = process.env.ALLREDUCE_ALLOCATOR === 'glibc' ? { applied: false, detail: 'glibc defaults (ALLREDUCE_ALLOCATOR=glibc)' } : tuneAllocator();

/**
 * ALLREDUCE_PROFILE_TIMED=dir: a V8 CPU profile of each timed all-reduce only
 * (no start-up, fill or check loops), one file per member and step. The
 * profiler's own cost shows as `dispatch`; CPU times of such a run are inflated.
 */
const profileDir = process.env.ALLREDUCE_PROFILE_TIMED;
let profiler: Session | undefined;
async function profiled<T>(step: number, run: () => Promise<T>): Promise<T> {
  if (!profileDir || step === 0) return run();
  if (!profiler) {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
  }
  await profiler.post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await profiler.post('Profiler.stop');
    fs.writeFileSync(path.join(profileDir, `${transport}-n${size}-r${rank}-s${step}.cpuprofile`), JSON.stringify(profile));
  }
}

type Reduce = (step: number, data: Float32Array) => Promise<void>;

async function setUp(): Promise<{ address: string; connect(peers: RingPeer[]): Promise<Reduce> }> {
  const reducer = createReducer(reducerArg);
  if (transport === 'grpc-ring') {
    const server = await RingServer.bind('127.0.0.1:0');
    return {
      address: server.address,
      async connect(peers) {
        const c = await GrpcRingCollective.start({ rank, peers, server, reducer: reducerArg, timeoutMs: 120_000, chunkBytes });
        return (step, data) => c.allReduceSum({ experiment: 'bench', generation: 1, step }, [data]);
      },
    };
  }
  if (transport === 'tcp-ring') {
    const listener = await listenTcp();
    return {
      address: `127.0.0.1:${listener.port}`,
      async connect(peers) {
        const { inbound, outbound } = await connectTcpRing(listener, peers, rank);
        return (step, data) =>
          new RingReduction({
            rank,
            size,
            ctx: { experiment: 'bench', generation: 1, step },
            buffers: [data],
            bucketElements: COLLECTIVE_DEFAULTS.bucketBytes / 4,
            chunkElements,
            inbound,
            outbound,
            reducer,
            timeoutMs: 120_000,
          }).run();
      },
    };
  }
  // grpc-ps
  const options = {
    'grpc.max_receive_message_length': RING_TRANSPORT_DEFAULTS.chunkBytes + 65536,
    'grpc.max_send_message_length': RING_TRANSPORT_DEFAULTS.chunkBytes + 65536,
  };
  if (rank === 0) {
    const ps = new ParameterServer(size - 1);
    const server = new grpc.Server(options);
    server.addService(PARAMETER_SERVER_SERVICE, ps.handlers);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    return { address: `127.0.0.1:${port}`, connect: async () => (step, data) => ps.reduce(step, data, chunkElements, reducer) };
  }
  return {
    address: '',
    async connect(peers) {
      const Client = grpc.makeGenericClientConstructor(PARAMETER_SERVER_SERVICE, 'ParameterServer');
      const client = new Client(peers[0].address, grpc.credentials.createInsecure(), {
        ...options,
        'grpc-node.flow_control_window': RING_TRANSPORT_DEFAULTS.flowControlWindowBytes,
      });
      const stream = client.makeBidiStreamRequest(
        PARAMETER_SERVER_SERVICE.Exchange.path,
        PARAMETER_SERVER_SERVICE.Exchange.requestSerialize,
        PARAMETER_SERVER_SERVICE.Exchange.responseDeserialize,
      );
      const worker = new ParameterServerWorker(stream);
      return (step, data) => worker.reduce(step, data, chunkElements);
    },
  };
}

async function main(): Promise<void> {
  const member = await setUp();
  let reduce: Reduce | undefined;
  let data: Float32Array = new Float32Array(0);
  send({ type: 'listening', address: member.address, allocator: allocator.detail });
  process.on('message', (m: FromParent) => {
    void (async () => {
      if (m.type === 'peers') {
        reduce = await member.connect(m.peers);
        send({ type: 'ready' });
      } else if (m.type === 'prepare') {
        if (data.length !== m.elements) data = new Float32Array(reducerArg === 'worker' ? new SharedArrayBuffer(m.elements * 4) : new ArrayBuffer(m.elements * 4));
        for (let i = 0; i < data.length; i++) data[i] = ((rank + 1) * ((i % 1024) - 512)) / 512;
        send({ type: 'prepared' });
      } else if (m.type === 'iterate' && reduce) {
        const started = performance.now();
        const cpu = process.cpuUsage();
        try {
          const r = reduce;
          await profiled(m.step, () => r(m.step, data));
        } catch (e) {
          send({ type: 'failed', step: m.step, message: (e as Error).message });
          return;
        }
        const ms = performance.now() - started;
        const used = process.cpuUsage(cpu);
        const cpuMs = (used.user + used.system) / 1000;
        send({ type: 'done', step: m.step, ms, cpuMs });
      } else if (m.type === 'check') {
        const factor = (size * (size + 1)) / 2;
        let maxError = 0;
        for (let i = 0; i < data.length; i++) maxError = Math.max(maxError, Math.abs(data[i] - (factor * ((i % 1024) - 512)) / 512));
        send({ type: 'checked', maxError });
      } else if (m.type === 'exit') {
        process.exit(0);
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}

void main();
