/**
 * The worker process: `unroll-worker [--redis URL] [--prefix P] [--data-root DIR]
 * [--checkpoint-dir DIR] [--backend NAME] [--ring-host HOST] [--ring-port N]
 * [--id ID] [--heartbeat-ttl-ms N] [--compute thread|inline] [--throttle-ms N]
 * [--kernel auto|native|tfjs] [--threads N] [--speculate on|off] [--peer-probe on|off]`.
 *
 *   --ring-port N    port of the ring server (default 0: any free port; the bound
 *                    address is what the worker registers). A fixed port lets a
 *                    Kubernetes pod declare it and probe it with `grpc:`
 *   --kernel NAME    window kernel (default: each spec's kernel, else auto — native
 *                    when its addon loads); sets UNROLL_KERNEL so the compute thread
 *                    uses it too. The kernel auto selects here is what the worker
 *                    advertises (`kernel` in its registration); --kernel native
 *                    where the addon does not load exits 1 with the reason
 *   --threads N      BLAS threads of the native kernel (default UNROLL_BLAS_THREADS,
 *                    else the cores this process may use, capped by its cgroup's
 *                    CPU limit — a pod's; `unroll up` gives each of its N workers
 *                    max(1, floor(cores / N)) so they do not oversubscribe the
 *                    machine). OMP_WAIT_POLICY defaults to PASSIVE (idle OpenMP
 *                    threads sleep instead of spinning). Both are in the ready
 *                    line (libs/cluster worker-threads.ts), as is the allocator:
 *                    glibc's mmap/trim thresholds raised unless MALLOC_MMAP_THRESHOLD_
 *                    or MALLOC_TRIM_THRESHOLD_ is set (libs/kernels-native allocator.ts)
 *   --compute thread|inline  where windows run (default thread: a worker_threads
 *                    thread with its own tfjs, so heartbeats, lock renewal and the
 *                    ring are served during a long window; inline: on the event
 *                    loop, which a window then blocks for its whole compute time)
 *   --throttle-ms N  diagnostic: sleep N ms after computing each window (default 0),
 *                    to emulate a slow device — e.g. to watch dynamic pulling give
 *                    it fewer windows. Counted in the job's computeSeconds.
 *   --speculate on|off  whether a window of step s + 1 starts on this worker's
 *                    staged update of step s before the coordinator's commit
 *                    arrives (default on: the commit's round trip overlaps the
 *                    window; the window's result, state and gradient are held until
 *                    that commit, and it is recomputed if another update was
 *                    committed — window-executor.ts)
 *   --peer-probe on|off  whether a ring peer whose streams fail from its side is
 *                    probed, and withdrawn from the cluster when its ring port
 *                    refuses connections (default: UNROLL_PEER_PROBE, which
 *                    `unroll up`'s workers inherit, else on; off leaves a dead peer to its
 *                    heartbeat's expiry — the baseline of bench/cluster/recovery.ts)
 *
 *   1. select the compute backend (--backend, default auto) — it is what the worker
 *      advertises, and it computes every experiment's windows;
 *   2. connect to Redis (--redis, else REDIS_URL, else 127.0.0.1:6379) and check it;
 *   3. bind the ring server on --ring-host and --ring-port (default 0) to learn its address;
 *   4. start the WorkerNode (register, heartbeat, discovery, window jobs), then
 *      report the ring server's overall health ('' in grpc.health.v1) SERVING: the
 *      worker takes jobs. `unroll.v1.Ring` stays NOT_SERVING until the worker is in
 *      a ring (RingServer), so a probe of '' says "alive and taking jobs" on an idle
 *      worker too (the Kubernetes probes, deploy/k8s);
 *   5. on SIGINT/SIGTERM: stop consuming, deregister, close everything, exit 0.
 * Prints one `unroll-worker: ready …` line on stderr when it takes jobs.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  BullWindowQueue,
  checkRedis,
  connectRedis,
  DEFAULT_PREFIX,
  redactRedisUrl,
  RedisControlBus,
  RedisExperimentStore,
  RedisHiddenStateStore,
  RedisMembershipStore,
  passiveOpenMp,
  traceAs,
  workerThreads,
  type WorkerThreads,
} from '@unroll/cluster';
import { RingServer } from '@unroll/collective';
import { tuneAllocator } from '@unroll/kernels-native';
import { kernelSelectionFromEnv } from '@unroll/bptt';
import { selectKernel, selectBackend, type BackendName } from '@unroll/models';
import { RingCollectives } from './ring-collectives';
import { WorkerNode } from './worker-node';

const BACKENDS: readonly BackendName[] = ['auto', 'cpu', 'wasm', 'tensorflow', 'tensorflow-gpu'];

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv.slice(2),
    options: {
      redis: { type: 'string' },
      prefix: { type: 'string' },
      'data-root': { type: 'string' },
      'checkpoint-dir': { type: 'string' },
      backend: { type: 'string' },
      'ring-host': { type: 'string' },
      'ring-port': { type: 'string' },
      id: { type: 'string' },
      'heartbeat-ttl-ms': { type: 'string' },
      'throttle-ms': { type: 'string' },
      compute: { type: 'string' },
      kernel: { type: 'string' },
      threads: { type: 'string' },
      speculate: { type: 'string' },
      'peer-probe': { type: 'string' },
    },
  });
  const say = (line: string): void => void process.stderr.write(`unroll-worker: ${line}\n`);
  const backendName = (values.backend ?? 'auto') as BackendName;
  if (!BACKENDS.includes(backendName)) {
    say(`--backend expects one of ${BACKENDS.join(', ')}, got ${JSON.stringify(values.backend)}`);
    return 2;
  }
  const throttleMs = values['throttle-ms'] === undefined ? 0 : Number(values['throttle-ms']);
  if (!Number.isInteger(throttleMs) || throttleMs < 0) {
    say(`--throttle-ms expects a non-negative integer (ms slept after each window), got ${JSON.stringify(values['throttle-ms'])}`);
    return 2;
  }
  const ringPort = values['ring-port'] === undefined ? 0 : Number(values['ring-port']);
  if (!Number.isInteger(ringPort) || ringPort < 0 || ringPort > 65535) {
    say(`--ring-port expects a port number from 0 (any free port) to 65535, got ${JSON.stringify(values['ring-port'])}`);
    return 2;
  }
  const compute = values.compute ?? 'thread';
  if (compute !== 'thread' && compute !== 'inline') {
    say(`--compute expects thread or inline, got ${JSON.stringify(values.compute)}`);
    return 2;
  }
  const peerProbe = values['peer-probe'] ?? process.env.UNROLL_PEER_PROBE ?? 'on';
  if (peerProbe !== 'on' && peerProbe !== 'off') {
    say(`--peer-probe expects on or off (withdraw a ring peer whose port refuses connections), got ${JSON.stringify(peerProbe)}`);
    return 2;
  }
  const speculate = values.speculate ?? 'on';
  if (speculate !== 'on' && speculate !== 'off') {
    say(`--speculate expects on or off (start a window on the staged update before its commit arrives), got ${JSON.stringify(values.speculate)}`);
    return 2;
  }
  if (values.kernel !== undefined) {
    if (!['auto', 'native', 'tfjs'].includes(values.kernel)) {
      say(`--kernel expects one of auto, native, tfjs, got ${JSON.stringify(values.kernel)}`);
      return 2;
    }
    process.env.UNROLL_KERNEL = values.kernel;
  }
  let flagThreads: number | undefined;
  if (values.threads !== undefined) {
    flagThreads = Number(values.threads);
    if (!Number.isInteger(flagThreads) || flagThreads < 1) {
      say(`--threads expects a positive integer (BLAS threads), got ${JSON.stringify(values.threads)}`);
      return 2;
    }
  }
  // Before the native addon loads (selectKernel below, and the compute thread, which inherits this environment).
  let blas: WorkerThreads;
  try {
    blas = workerThreads(flagThreads);
  } catch (e) {
    say(e instanceof Error ? e.message : String(e));
    return 2;
  }
  process.env.UNROLL_BLAS_THREADS = String(blas.threads);
  const ompWait = passiveOpenMp();
  // Fresh megabytes (gRPC messages, gradients, staging copies) come from the heap instead of new mappings (libs/kernels-native allocator.ts).
  const allocator = tuneAllocator();
  const backend = await selectBackend(backendName);
  // The kernel this worker runs without a spec saying otherwise: logged once, advertised.
  let kernel;
  try {
    const sel = kernelSelectionFromEnv(process.env, say);
    kernel = selectKernel({ kernel: sel.kernel ?? 'auto', threads: sel.threads, log: sel.log });
  } catch (e) {
    say(e instanceof Error ? e.message : String(e));
    return 1;
  }
  const url = values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = values.prefix ?? process.env.UNROLL_PREFIX ?? DEFAULT_PREFIX;
  const redis = connectRedis(url, { connectionName: 'unroll-worker' });
  await checkRedis(redis);

  const server = await RingServer.bind(`${values['ring-host'] ?? '127.0.0.1'}:${ringPort}`);
  const id = values.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  traceAs(id);
  const membership = new RedisMembershipStore(redis, { prefix });
  const bus = new RedisControlBus(redis, { prefix });
  const windows = new BullWindowQueue(redis, { prefix });
  const collectives = new RingCollectives(server, membership, { log: say, probe: peerProbe === 'off' ? 'off' : undefined });
  const node = new WorkerNode(
    { membership, experiments: new RedisExperimentStore(redis, { prefix }), states: new RedisHiddenStateStore(redis, { prefix }), bus, windows, collectives },
    {
      info: { id, ringAddress: server.address, backend: backend.name, kernel: kernel.name, device: backend.detail, startedAt: Date.now() },
      dataRoot: path.resolve(values['data-root'] ?? process.env.UNROLL_DATA_ROOT ?? 'data'),
      checkpointDir: path.resolve(values['checkpoint-dir'] ?? 'checkpoints'),
      heartbeatTtlMs: values['heartbeat-ttl-ms'] !== undefined ? Number(values['heartbeat-ttl-ms']) : undefined,
      throttleMs,
      compute,
      speculate: speculate === 'on',
      log: say,
    },
  );

  let stopping: Promise<void> | undefined;
  const stop = (signal: string): Promise<void> =>
    (stopping ??= (async () => {
      say(`${id}: ${signal}, stopping`);
      await node.stop().catch((e: unknown) => say(`stop: ${String(e)}`));
      await windows.close().catch(() => undefined);
      await bus.close().catch(() => undefined);
      await collectives.close().catch(() => undefined);
      redis.disconnect();
    })());
  const done = new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop(signal).then(resolve));
  });
  await node.start();
  server.health.setStatus('', 'SERVING');
  say(`ready: id ${id}, ring ${server.address}, backend ${backend.name} (${backend.detail}), kernel ${kernel.name} (BLAS threads ${blas.threads} from ${blas.source}, OMP_WAIT_POLICY ${ompWait}), allocator ${allocator.applied ? 'tuned' : 'as is'} (${allocator.detail}), GC ${process.execArgv.includes('--single-threaded-gc') ? 'single-threaded' : 'parallel'}, redis ${redactRedisUrl(url)} prefix ${prefix}, compute ${compute}${throttleMs ? `, throttled ${throttleMs} ms per window` : ''}${peerProbe === 'off' ? ', peer probe off' : ''}`);
  await done;
  return 0;
}
