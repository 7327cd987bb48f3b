/**
 * Mutual TLS between ring members (DESIGN.md, Security: "gRPC between workers
 * uses mTLS in a cluster and refuses unknown peers"). Certificates are made with
 * the openssl CLI for the test; without it the test fails and says what to install.
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCollectiveProto } from '@unroll/proto';
import { GrpcRingCollective } from './grpc-ring-collective';
import type { RingTlsOptions } from './grpc-options';
import { RingServer } from './ring-server';

/** Throws, saying what to install, when the openssl CLI is missing. */
function requireOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    throw new Error('the mTLS test makes its certificates with the openssl CLI, which is not on PATH: install it (Debian: apt-get install openssl)');
  }
}

/** A CA and one member certificate (SAN 127.0.0.1, server and client auth) signed by it. */
function makePki(dir: string, name: string): RingTlsOptions {
  const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-ca.key`, '-out', `${name}-ca.crt`, '-days', '1', '-subj', `/CN=${name}-ca`);
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}-member`);
  fs.writeFileSync(path.join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  run('x509', '-req', '-in', `${name}.csr`, '-CA', `${name}-ca.crt`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  const read = (f: string): Buffer => fs.readFileSync(path.join(dir, f));
  return { ca: read(`${name}-ca.crt`), cert: read(`${name}.crt`), key: read(`${name}.key`) };
}

describe('ring over mutual TLS', () => {
  let dir: string;
  let tls: RingTlsOptions;
  let rogue: RingTlsOptions;
  beforeAll(() => {
    requireOpenssl();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unroll-mtls-'));
    tls = makePki(dir, 'ring');
    rogue = makePki(dir, 'rogue');
  }, 60_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reduces between members that present certificates of the ring CA, and refuses a peer without one', async () => {
    const servers = await Promise.all([0, 1].map(() => RingServer.bind('127.0.0.1:0', { tls })));
    const peers = servers.map((s, rank) => ({ rank, address: s.address }));
    const members = await Promise.all(servers.map((server, rank) => GrpcRingCollective.start({ rank, peers, server, tls, timeoutMs: 10_000 })));
    const Ring = loadCollectiveProto().unroll.v1.Ring;
    const subscribe = async (credentials: grpc.ChannelCredentials): Promise<grpc.StatusObject> => {
      const client = new Ring(members[0].address, credentials);
      const call = client.Stream({ deadline: Date.now() + 5_000 });
      call.on('error', () => undefined);
      call.on('data', () => undefined);
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.write({ subscribe: { experiment: 'mtls', generation: 1, rank: 1, size: 2 } });
      const s = await status;
      client.close();
      return s;
    };
    try {
      const buffers = [Float32Array.from([1, 2, 3]), Float32Array.from([10, 20, 30])];
      await Promise.all(members.map((m, r) => m.allReduceSum({ experiment: 'mtls', generation: 1, step: 1 }, [buffers[r]])));
      expect([...buffers[0]]).toEqual([11, 22, 33]);
      expect([...buffers[1]]).toEqual([11, 22, 33]);
      // TLS without a client certificate, and a certificate from another CA: the handshake fails.
      expect((await subscribe(grpc.credentials.createSsl(tls.ca))).code).toBe(grpc.status.UNAVAILABLE);
      expect((await subscribe(grpc.credentials.createSsl(tls.ca, rogue.key, rogue.cert))).code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      await Promise.all(members.map((m) => m.close()));
    }
  }, 30_000);
});
