/**
 * The grpc-js floor on this machine (not a test): `npx tsx bench/allreduce/grpc-floor.ts`.
 *
 * What grpc-js itself costs, with nothing of ours around it — identity
 * (de)serializers (`serialize: b => b`), no protobuf, no checks, no acks:
 *   stream  one bidi stream between 2 processes; the server pushes `--stream-mib`
 *           messages of 1 MiB to the client (client flow-control window raised),
 *           as a ring edge does (the receiver dials, the sender writes server-side).
 *   ring    a minimal ring all-reduce of `--mb` MB between `--members` processes
 *           (reduce-scatter then all-gather, 1 MiB chunks, float32 sum; each chunk
 *           is forwarded as soon as it is applied), same topology as libs/collective.
 *           Every received message is applied synchronously in its 'data' callback.
 *   lib     the product on the same data and protocol with the parent:
 *           GrpcRingCollective (libs/collective) with its defaults, so that the
 *           floor and the product run interleaved in one process run.
 *   libB    as lib, but GrpcRingCollective loaded from another tree, for A/B runs
 *           of a change in one process run: FLOOR_LIB_B=dir, where dir holds
 *           libs/collective and libs/proto (e.g. copies of an older commit) and a
 *           node_modules whose @unroll/collective and @unroll/proto point at them.
 *   libC    the same with FLOOR_LIB_C, libD with FLOOR_LIB_D.
 *   tcp     the transport bound of run.ts's tcp-ring: the same RingReduction
 *           (libs/collective) over the raw-TCP edges of tcp-ring-edges.ts, same
 *           bucket, chunk and inline reducer as the product, same data.
 * Variants of the members' allocator, interleaved round by round (fresh
 * processes per group): plain (glibc defaults), malloc (the previous pass's
 * `MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456` in the
 * environment), tuned (tuneAllocator() from @unroll/kernels-native at start).
 * Reported per group: median wall time of the timed iterations (slowest member),
 * median CPU time of all members together, the cores other processes used
 * meanwhile (/proc/stat), and per member (medians) user and system CPU, minor
 * page faults and voluntary context switches (all threads of the process: the
 * event loop and V8's GC helpers).
 *
 * Options: --rounds=3 --iterations=5 --members=4 --mb=16 --stream-mib=128
 *          --window=16777216 (client grpc-node.flow_control_window)
 *          --variants=plain,malloc,tuned --tests=stream,ring,lib,tcp
 * Environment: FLOOR_NODE_ARGS (extra node flags for the members, e.g. --trace-gc; 'A|B' runs
 *          every test with flags A and with flags B, interleaved, as further variants),
 *          FLOOR_PROFILE_TIMED=dir (V8 CPU profiles of the timed iterations).
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import * as path from 'node:path';
import * as os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { COLLECTIVE_DEFAULTS, GrpcRingCollective, RING_TRANSPORT_DEFAULTS, RingReduction, RingServer, createReducer } from '@unroll/collective';
import { tuneAllocator } from '@unroll/kernels-native';
import { Child } from './child';
import { connectTcpRing, listenTcp } from './tcp-ring-edges';

const MiB = 1 << 20;
const arg = (name: string, fallback: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
/** The glibc setting of the previous pass, by environment (read at process start). */
const MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '67108864', MALLOC_TRIM_THRESHOLD_: '268435456' };

const identity = (b: Buffer): Buffer => b;
const SERVICE: grpc.ServiceDefinition = {
  Stream: {
    path: '/floor.Floor/Stream',
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

type Test = 'stream' | 'ring' | 'lib' | 'libB' | 'libC' | 'libD' | 'tcp';
type OtherLib = 'libB' | 'libC' | 'libD';
type ToChild = { type: 'peers'; addresses: string[] } | { type: 'go'; iteration: number } | { type: 'exit' };
/** Per member and iteration: user and system CPU ms, minor page faults, voluntary context switches (process.resourceUsage deltas). */
interface Usage {
  userMs: number;
  systemMs: number;
  minorFaults: number;
  voluntarySwitches: number;
}
type FromChild = { type: 'listening'; address: string } | { type: 'ready' } | { type: 'done'; ms: number; cpuMs: number; check: number; usage: Usage };

// ---------------------------------------------------------------------------
// Member (child process): argv test, rank, size, payload MiB, window.

async function member(test: Test, rank: number, size: number, mib: number, window: number): Promise<void> {
  if (test !== 'stream' && test !== 'ring') return libMember(test, rank, size, mib, window);
  const send = (m: FromChild): void => void process.send?.(m);
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 2 * MiB, 'grpc.max_send_message_length': 2 * MiB });
  let downstream: grpc.ServerDuplexStream<Buffer, Buffer> | undefined;
  let subscribed: () => void = () => undefined;
  const haveDownstream = new Promise<void>((resolve) => (subscribed = resolve));
  server.addService(SERVICE, {
    Stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      downstream = call;
      call.on('data', () => undefined);
      subscribed();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  send({ type: 'listening', address: `127.0.0.1:${port}` });

  let upstream: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  let onMessage: (m: Buffer) => void = () => undefined;
  const data = new Float32Array((mib * MiB) / 4);
  const chunkElements = MiB / 4;

  /**
   * Writes without waiting (grpc-js queues what the window does not take). A write
   * may be serialised later, in its callback's turn, so `data` is refilled only
   * when every write of the iteration has called back.
   */
  let unflushed = 0;
  let flushed: (() => void) | undefined;
  const write = (b: Buffer): void => {
    unflushed++;
    downstream?.write(b, () => {
      if (--unflushed === 0) flushed?.();
    });
  };
  const allFlushed = (): Promise<void> => (unflushed === 0 ? Promise.resolve() : new Promise((resolve) => (flushed = resolve)));

  let received = 0;
  let target = 0;
  let reached: (() => void) | undefined;
  if (test === 'stream' && rank === 1) {
    onMessage = (m) => {
      received += m.length;
      if (received >= target && reached) {
        const r = reached;
        reached = undefined;
        r();
      }
    };
  }

  const iterate = async (): Promise<number> => {
    if (test === 'stream') {
      // rank 0 (server side) pushes; rank 1 (client) counts.
      if (rank === 0) {
        const payload = Buffer.alloc(MiB, 1);
        for (let i = 0; i < mib; i++) {
          if (!downstream?.write(payload)) await new Promise<void>((resolve) => downstream?.once('drain', resolve));
        }
        // Wait for the receiver's one-byte reply that everything arrived.
        await new Promise<void>((resolve) => (onMessage = () => resolve()));
        return 0;
      }
      // Counted across iterations: the pusher may start before this member has seen 'go'.
      target += mib * MiB;
      if (received < target) await new Promise<void>((resolve) => (reached = resolve));
      upstream?.write(Buffer.alloc(1));
      return received;
    }
    // ring: segment s = elements [s·L/N, (s+1)·L/N), in chunks of 1 MiB.
    const seg = (s: number): [number, number] => [Math.floor((s * data.length) / size), Math.floor(((s + 1) * data.length) / size)];
    const chunksOf = (s: number): Array<[number, number]> => {
      const [a, b] = seg(s);
      const out: Array<[number, number]> = [];
      for (let o = a; o < b; o += chunkElements) out.push([o, Math.min(b, o + chunkElements)]);
      return out;
    };
    const rounds = 2 * (size - 1);
    // Member r sends segment (r − g) mod N in round g and receives (r − g − 1) mod N, in both
    // phases; what it receives in round g is what it sends in round g + 1.
    const mod = (x: number): number => ((x % size) + size) % size;
    const view = (a: number, b: number): Buffer => Buffer.from(data.buffer, data.byteOffset + a * 4, (b - a) * 4);
    for (const [a, b] of chunksOf(mod(rank))) write(view(a, b));
    const expected: Array<{ round: number; a: number; b: number }> = [];
    for (let g = 0; g < rounds; g++) for (const [a, b] of chunksOf(mod(rank - g - 1))) expected.push({ round: g, a, b });
    let at = 0;
    await new Promise<void>((resolve) => {
      onMessage = (m) => {
        const { round, a, b } = expected[at++];
        if (round < size - 1) {
          const src = m.byteOffset % 4 === 0 ? new Float32Array(m.buffer, m.byteOffset, b - a) : new Float32Array(new Uint8Array(m).buffer, 0, b - a);
          for (let i = 0; i < b - a; i++) data[a + i] += src[i];
        } else {
          new Uint8Array(data.buffer, data.byteOffset + a * 4, (b - a) * 4).set(m);
        }
        if (round < rounds - 1) write(view(a, b));
        if (at === expected.length) {
          onMessage = (early) => void inbox.push(early);
          resolve();
        }
      };
      // Chunks of this iteration that arrived before this member saw 'go'.
      for (const m of inbox.splice(0)) onMessage(m);
    });
    return data[0] + data[data.length - 1];
  };
  const inbox: Buffer[] = [];
  const fill = (): void => {
    for (let i = 0; i < data.length; i++) data[i] = rank + 1;
  };
  let prepared = Promise.resolve();
  if (test === 'ring') {
    fill();
    onMessage = (early) => void inbox.push(early);
  }

  process.on('message', (m: ToChild) => {
    void (async () => {
      if (m.type === 'peers') {
        const Client = grpc.makeGenericClientConstructor(SERVICE, 'Floor');
        const predecessor = test === 'stream' ? (rank === 1 ? m.addresses[0] : undefined) : m.addresses[(rank - 1 + size) % size];
        if (predecessor) {
          const client = new Client(predecessor, grpc.credentials.createInsecure(), {
            'grpc.max_receive_message_length': 2 * MiB,
            'grpc.max_send_message_length': 2 * MiB,
            'grpc-node.flow_control_window': window,
          });
          upstream = client.makeBidiStreamRequest('/floor.Floor/Stream', identity, identity, new grpc.Metadata({ waitForReady: true })) as grpc.ClientDuplexStream<Buffer, Buffer>;
          upstream.on('data', (b: Buffer) => onMessage(b));
          upstream.on('error', () => undefined); // the parent kills the group at the end
          upstream.write(Buffer.alloc(1)); // opens the stream on the predecessor
        }
        if (test === 'ring' || rank === 0) await haveDownstream;
        if (test === 'stream' && rank === 0) downstream?.removeAllListeners('data').on('data', (b: Buffer) => onMessage(b));
        send({ type: 'ready' });
      } else if (m.type === 'go') {
        await prepared;
        const started = performance.now();
        const ru0 = process.resourceUsage();
        const cpu = process.cpuUsage();
        const profiler = process.env.FLOOR_PROFILE_TIMED && m.iteration > 0 ? await startProfiler() : undefined;
        const check = await iterate();
        if (profiler) await stopProfiler(profiler, path.join(process.env.FLOOR_PROFILE_TIMED ?? '', `floor-${test}-n${size}-r${rank}-i${m.iteration}.cpuprofile`));
        const used = process.cpuUsage(cpu);
        send({ type: 'done', ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000, check, usage: usageSince(ru0, used) });
        if (test === 'ring') prepared = allFlushed().then(fill); // untimed, before the next 'go' is served
      } else if (m.type === 'exit') {
        process.exit(0);
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}

/**
 * The product for comparison (`lib`: GrpcRingCollective), or the same ring engine
 * over raw TCP (`tcp`: RingReduction over tcp-ring-edges.ts, as run.ts's tcp-ring
 * transport), on the same data and with the same protocol with the parent.
 */
async function libMember(test: 'lib' | OtherLib | 'tcp', rank: number, size: number, mib: number, window: number): Promise<void> {
  const send = (m: FromChild): void => void process.send?.(m);
  const tcp = test === 'tcp';
  const lib: Pick<typeof import('@unroll/collective'), 'GrpcRingCollective' | 'RingServer' | 'RingReduction' | 'createReducer'> =
    test === 'lib' || tcp
      ? { GrpcRingCollective, RingServer, RingReduction, createReducer }
      : (require(path.resolve(process.env[`FLOOR_LIB_${test.slice(3)}`] ?? '', 'libs/collective/src/index.ts')) as typeof import('@unroll/collective'));
  const server = tcp ? undefined : await lib.RingServer.bind('127.0.0.1:0');
  const listener = tcp ? await listenTcp() : undefined;
  send({ type: 'listening', address: server ? server.address : `127.0.0.1:${listener?.port ?? 0}` });
  const data = new Float32Array((mib * MiB) / 4);
  const fill = (): void => void data.fill(rank + 1);
  fill();
  let reduce: ((step: number) => Promise<void>) | undefined;
  process.on('message', (m: ToChild) => {
    void (async () => {
      if (m.type === 'peers') {
        const peers = m.addresses.map((address, r) => ({ rank: r, address }));
        if (server) {
          const collective = await lib.GrpcRingCollective.start({ rank, peers, server, timeoutMs: 120_000, flowControlWindowBytes: window });
          reduce = (step) => collective.allReduceSum({ experiment: 'floor', generation: 1, step }, [data]);
        } else if (listener) {
          const { inbound, outbound } = await connectTcpRing(listener, peers, rank);
          const reducer = lib.createReducer('inline');
          reduce = (step) =>
            new lib.RingReduction({
              rank,
              size,
              ctx: { experiment: 'floor', generation: 1, step },
              buffers: [data],
              bucketElements: COLLECTIVE_DEFAULTS.bucketBytes / 4,
              chunkElements: RING_TRANSPORT_DEFAULTS.chunkBytes / 4,
              inbound,
              outbound,
              reducer,
              timeoutMs: 120_000,
            }).run();
        }
        send({ type: 'ready' });
      } else if (m.type === 'go' && reduce) {
        const started = performance.now();
        const ru0 = process.resourceUsage();
        const cpu = process.cpuUsage();
        const profiler = process.env.FLOOR_PROFILE_TIMED && m.iteration > 0 ? await startProfiler() : undefined;
        await reduce(m.iteration);
        if (profiler) await stopProfiler(profiler, path.join(process.env.FLOOR_PROFILE_TIMED ?? '', `floor-${test}-n${size}-r${rank}-i${m.iteration}.cpuprofile`));
        const used = process.cpuUsage(cpu);
        send({ type: 'done', ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000, check: data[0] + data[data.length - 1], usage: usageSince(ru0, used) });
        fill();
      } else if (m.type === 'exit') {
        process.exit(0);
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}

function usageSince(before: NodeJS.ResourceUsage, cpu: NodeJS.CpuUsage): Usage {
  const now = process.resourceUsage();
  return {
    userMs: cpu.user / 1000,
    systemMs: cpu.system / 1000,
    minorFaults: now.minorPageFault - before.minorPageFault,
    voluntarySwitches: now.voluntaryContextSwitches - before.voluntaryContextSwitches,
  };
}

/** FLOOR_PROFILE_TIMED=dir: a V8 CPU profile of each timed iteration (as member.ts's ALLREDUCE_PROFILE_TIMED). */
let session: Session | undefined;
async function startProfiler(): Promise<Session> {
  if (!session) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
  }
  await session.post('Profiler.start');
  return session;
}
async function stopProfiler(s: Session, file: string): Promise<void> {
  const { profile } = await s.post('Profiler.stop');
  fs.writeFileSync(file, JSON.stringify(profile));
}

// ---------------------------------------------------------------------------
// Parent.


function machineBusyMs(): number {
  const [, ...fields] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return ((user + nice + system + irq + softirq + steal) * 1000) / 100;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Result {
  wallMs: number;
  cpuMs: number;
  othersCores: number;
  /** Medians over members × timed iterations. */
  usage: Usage;
}

async function group(test: Test, size: number, mib: number, window: number, env: NodeJS.ProcessEnv, iterations: number, nodeArgs: string): Promise<Result> {
  const children = Array.from(
    { length: size },
    (_, rank) => new Child<FromChild>(fork(__filename, ['--member', test, String(rank), String(size), String(mib), String(window)], { execArgv: ['--require', 'tsx/cjs', ...nodeArgs.split(' ').filter(Boolean)], env })),
  );
  try {
    const listening = await Promise.all(children.map((c) => c.next()));
    const addresses = listening.map((m) => (m.type === 'listening' ? m.address : ''));
    children.forEach((c) => c.process.send({ type: 'peers', addresses }));
    await Promise.all(children.map((c) => c.next()));
    const walls: number[] = [];
    const cpus: number[] = [];
    const others: number[] = [];
    const usages: Usage[] = [];
    for (let i = 0; i <= iterations; i++) {
      const busy = machineBusyMs();
      const t0 = performance.now();
      children.forEach((c) => c.process.send({ type: 'go', iteration: i }));
      const done = await Promise.all(children.map((c) => c.next()));
      const wall = performance.now() - t0;
      const busyMs = machineBusyMs() - busy;
      const results = done.map((d) => (d.type === 'done' ? d : { ms: 0, cpuMs: 0, check: Number.NaN, usage: undefined }));
      if (test !== 'stream') {
        // Every element sums to 1 + 2 + … + N; the check is the first plus the last.
        const want = size * (size + 1);
        if (results.some((r) => r.check !== want)) throw new Error(`ring sum wrong: ${results.map((r) => r.check).join(',')} (want ${want})`);
      }
      if (i === 0) continue; // warm-up
      const cpu = results.reduce((s, r) => s + r.cpuMs, 0);
      walls.push(Math.max(...results.map((r) => r.ms)));
      cpus.push(cpu);
      others.push(Math.max(0, busyMs - cpu) / wall);
      for (const r of results) if (r.usage) usages.push(r.usage);
    }
    const m = (f: (u: Usage) => number): number => median(usages.map(f));
    return {
      wallMs: median(walls),
      cpuMs: median(cpus),
      othersCores: median(others),
      usage: { userMs: m((u) => u.userMs), systemMs: m((u) => u.systemMs), minorFaults: m((u) => u.minorFaults), voluntarySwitches: m((u) => u.voluntarySwitches) },
    };
  } finally {
    // A normal exit first, so that --cpu-prof (FLOOR_NODE_ARGS) can write its profile.
    await Promise.all(
      children.map((c) => new Promise((resolve) => {
        const timer = setTimeout(resolve, 3_000);
        c.process.once('exit', () => resolve(clearTimeout(timer)));
        c.process.send({ type: 'exit' });
      })),
    );
    for (const c of children) c.process.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const rounds = Number(arg('rounds', '3'));
  const iterations = Number(arg('iterations', '5'));
  const members = Number(arg('members', '4'));
  const mb = Number(arg('mb', '16'));
  const streamMiB = Number(arg('stream-mib', '128'));
  const window = Number(arg('window', String(16 * MiB)));
  const variants = arg('variants', 'plain,malloc,tuned').split(',');
  const tests = arg('tests', 'stream,ring,lib').split(',') as Test[];
  const nodeArgSets = (process.env.FLOOR_NODE_ARGS ?? '').split('|');
  const plainEnv = { ...process.env };
  delete plainEnv.MALLOC_MMAP_THRESHOLD_;
  delete plainEnv.MALLOC_TRIM_THRESHOLD_;
  console.log(`grpc-js floor: node ${process.version}, grpc-js ${(require('@grpc/grpc-js/package.json') as { version: string }).version}, ${os.availableParallelism()} cores, window ${window}; loadavg ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);
  for (let round = 1; round <= rounds; round++) {
    for (const test of tests) {
      for (const variant of variants) for (const nodeArgs of nodeArgSets) {
        const env = variant === 'malloc' ? { ...plainEnv, ...MALLOC_ENV } : variant === 'tuned' ? { ...plainEnv, FLOOR_TUNE_ALLOCATOR: '1' } : plainEnv;
        const size = test === 'stream' ? 2 : members;
        const mib = test === 'stream' ? streamMiB : mb;
        const r = await group(test, size, mib, window, env, iterations, nodeArgs);
        const moved = test === 'stream' ? mib : 2 * (size - 1) * mib; // MiB sent (= received) in total
        const rate = test === 'stream' ? `${(mib / (r.wallMs / 1000)).toFixed(0)} MB/s` : `algbw ${(mib / (r.wallMs / 1000)).toFixed(0)} MB/s`;
        console.log(
          `round ${round} ${test.padEnd(6)} ${variant.padEnd(6)}${nodeArgSets.length > 1 ? ` [${nodeArgs}]` : ''} N=${size} ${String(mib).padStart(3)} MiB  wall ${r.wallMs.toFixed(1).padStart(6)} ms  ${rate}  cpu(all) ${r.cpuMs.toFixed(0).padStart(5)} ms = ${(r.cpuMs / moved).toFixed(2)} ms per MiB moved  others ${r.othersCores.toFixed(2)} cores | per member: user ${r.usage.userMs.toFixed(0)} sys ${r.usage.systemMs.toFixed(0)} ms, ${r.usage.minorFaults} faults, ${r.usage.voluntarySwitches} voluntary context switches (all threads)`,
        );
      }
    }
  }
  console.log(`loadavg at end ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);
}

if (process.argv[2] === '--member') {
  if (process.env.FLOOR_TUNE_ALLOCATOR === '1') {
    const t = tuneAllocator();
    if (!t.applied) throw new Error(`tuneAllocator did nothing: ${t.detail}`);
  }
  const [, test, rank, size, mib, window] = process.argv.slice(2);
  void member(test as Test, Number(rank), Number(size), Number(mib), Number(window));
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
