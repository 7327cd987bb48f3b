/**
 * The worker process's ring port and health, as a Kubernetes pod sees them: with
 * --ring-port the ring server listens on that port (so a pod can declare it and
 * probe it with `grpc:`), and once the worker takes jobs the server's overall health
 * ('' in grpc.health.v1) is SERVING while `unroll.v1.Ring` stays NOT_SERVING until
 * the worker is in a ring. A real worker process on the local Redis (127.0.0.1:6379),
 * under a fresh key prefix deleted afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { connectRedis } from '@unroll/cluster';

const WORKER_BIN = path.resolve(__dirname, '../bin/unroll-worker.js');
const REDIS_URL = 'redis://127.0.0.1:6379';

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

function startWorker(args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [WORKER_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

async function until(what: string, ok: () => boolean, log: () => string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what} not seen within ${timeoutMs} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type HealthClient = grpc.Client & {
  Check(req: { service: string }, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void): void;
};

/** grpc.health.v1.Health/Check of `service` at `address`: the status name, as a kubelet `grpc:` probe reads it. */
async function healthCheck(address: string, service: string): Promise<string> {
  const client = new (grpc.makeGenericClientConstructor(healthService, 'Health'))(address, grpc.credentials.createInsecure()) as unknown as HealthClient;
  try {
    return await new Promise<string>((resolve, reject) =>
      client.Check({ service }, { deadline: Date.now() + 5_000 }, (e, r) => (e || !r ? reject(e) : resolve(r.status))),
    );
  } finally {
    client.close();
  }
}

describe('unroll-worker --ring-port and health', () => {
  const prefix = `test-ringport-${randomBytes(4).toString('hex')}`;
  let running: ReturnType<typeof startWorker> | undefined;

  afterAll(async () => {
    if (running && running.child.exitCode === null) running.child.kill('SIGKILL');
    const redis = connectRedis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('refuses a port outside 0–65535 (exit 2, naming the flag)', async () => {
    const w = startWorker(['--ring-port', '70000', '--redis', REDIS_URL, '--prefix', prefix]);
    expect(await w.exited).toBe(2);
    expect(w.stderr()).toContain('--ring-port expects a port number from 0 (any free port) to 65535, got "70000"');
  }, 60_000);

  it('refuses a --peer-probe other than on or off (exit 2, naming the flag)', async () => {
    const w = startWorker(['--peer-probe', 'maybe', '--redis', REDIS_URL, '--prefix', prefix]);
    expect(await w.exited).toBe(2);
    expect(w.stderr()).toContain('--peer-probe expects on or off (withdraw a ring peer whose port refuses connections), got "maybe"');
  }, 60_000);

  it('binds the ring on --ring-port; health "" is SERVING once it takes jobs, unroll.v1.Ring NOT_SERVING until a ring forms', async () => {
    const port = await freePort();
    running = startWorker(['--ring-host', '127.0.0.1', '--ring-port', String(port), '--backend', 'cpu', '--kernel', 'tfjs', '--redis', REDIS_URL, '--prefix', prefix]);
    const w = running;
    await until('the ready line', () => w.stderr().includes('unroll-worker: ready'), w.stderr);
    expect(w.stderr()).toContain(`ring 127.0.0.1:${port},`);
    await expect(healthCheck(`127.0.0.1:${port}`, '')).resolves.toBe('SERVING');
    await expect(healthCheck(`127.0.0.1:${port}`, 'unroll.v1.Ring')).resolves.toBe('NOT_SERVING');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  }, 90_000);
});
