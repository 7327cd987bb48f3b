/**
 * `unroll doctor [--redis URL] [--threads N] [--json]`: plain facts about this
 * machine, exit 0 whatever they are —
 *   - the tfjs backends: cpu, wasm (with or without SIMD), tensorflow and
 *     tensorflow-gpu (their packages installed or not);
 *   - the native window kernel: loaded (OpenBLAS build, BLAS threads, AVX2 or
 *     baseline gate loops) or the reason it is not, and which kernel `auto` picks;
 *   - Redis: reachable or not, and its maxmemory-policy (BullMQ needs noeviction).
 */
import { connectRedis, DEFAULT_REDIS_URL, redactRedisUrl } from '@unroll/cluster';
import { nativeKernelStatus, selectBackend, type NativeKernelStatus } from '@unroll/models';
import { threadsFlag } from '../context';

export interface DoctorFlags {
  redis?: string;
  threads?: string;
  json?: boolean;
}

export interface BackendFact {
  name: 'cpu' | 'wasm' | 'tensorflow' | 'tensorflow-gpu';
  available: boolean;
  detail: string;
}

export interface RedisFact {
  url: string;
  reachable: boolean;
  maxmemoryPolicy?: string;
  detail?: string;
}

export interface DoctorReport {
  backends: BackendFact[];
  native: NativeKernelStatus;
  /** The kernel `auto` selects here, and why. */
  auto: string;
  redis: RedisFact;
}

function installed(pkg: string): string | undefined {
  try {
    return require.resolve(pkg);
  } catch {
    return undefined;
  }
}

async function backendFacts(): Promise<BackendFact[]> {
  const facts: BackendFact[] = [];
  for (const name of ['cpu', 'wasm'] as const) {
    try {
      const info = await selectBackend(name);
      facts.push({ name, available: true, detail: info.detail });
    } catch (e) {
      facts.push({ name, available: false, detail: (e as Error).message.split('\n')[0] });
    }
  }
  // Installed or not, without loading them (loading libtensorflow takes seconds and claims the process).
  for (const [name, pkg] of [
    ['tensorflow', '@tensorflow/tfjs-node'],
    ['tensorflow-gpu', '@tensorflow/tfjs-node-gpu'],
  ] as const) {
    const where = installed(pkg);
    facts.push({ name, available: where !== undefined, detail: where !== undefined ? `${pkg} installed` : `${pkg} is not installed` });
  }
  return facts;
}

async function redisFact(url: string, timeoutMs = 2000): Promise<RedisFact> {
  const shown = redactRedisUrl(url);
  const redis = connectRedis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectionName: 'unroll-doctor' });
  redis.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const answer = (async () => {
      await redis.connect();
      await redis.ping();
      return redis.info('memory');
    })();
    answer.catch(() => undefined);
    const info = await Promise.race([answer, timeout]);
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    return { url: shown, reachable: true, maxmemoryPolicy: policy ?? '(unknown)' };
  } catch (e) {
    return { url: shown, reachable: false, detail: (e as Error).message.split('\n')[0] };
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}

export async function doctorReport(flags: DoctorFlags): Promise<DoctorReport> {
  const backends = await backendFacts();
  const native = nativeKernelStatus({ threads: threadsFlag(flags.threads) });
  const auto = native.loaded ? 'native (the addon loads)' : `tfjs (native kernel unavailable: ${native.reason})`;
  const redis = await redisFact(flags.redis ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL);
  return { backends, native, auto, redis };
}

export function formatDoctor(r: DoctorReport): string {
  const lines = ['backends:'];
  for (const b of r.backends) lines.push(`  ${b.name.padEnd(15)} ${b.available ? 'available' : 'unavailable'} (${b.detail})`);
  lines.push('native kernel:');
  if (r.native.loaded) {
    lines.push(`  loaded: ${r.native.blas}`, `  BLAS threads: ${r.native.threads}`, `  gate loops: ${r.native.avx2 ? 'AVX2' : 'baseline'}`);
  } else {
    lines.push(`  not loaded: ${r.native.reason}`);
  }
  lines.push(`  kernel auto selects: ${r.auto}`);
  lines.push('redis:');
  lines.push(r.redis.reachable ? `  ${r.redis.url}: reachable, maxmemory-policy ${r.redis.maxmemoryPolicy}${r.redis.maxmemoryPolicy === 'noeviction' ? '' : ' (BullMQ needs noeviction)'}` : `  ${r.redis.url}: not reachable (${r.redis.detail})`);
  return `${lines.join('\n')}\n`;
}

export async function doctorCommand(flags: DoctorFlags): Promise<number> {
  const report = await doctorReport(flags);
  process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatDoctor(report));
  return 0;
}
