/**
 * Three real node processes ring-reduce 16 MB over gRPC on loopback; then one is
 * killed with SIGKILL in the middle of a reduction and the survivors must fail
 * with PeerDeadlineError naming it, within the deadline.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { RingPeer } from './grpc-ring-collective';
import type { FromMember } from './testing/ring-member-process';

const SCRIPT = path.join(__dirname, 'testing', 'ring-member-process.ts');
const SIZE = 3;
const ELEMENTS = (16 * 1024 * 1024) / 4;
const TIMEOUT_MS = 5_000;

class Member {
  readonly messages: FromMember[] = [];
  private waiters: Array<() => void> = [];
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: FromMember) => {
      this.messages.push(m);
      this.waiters.splice(0).forEach((w) => w());
    });
  }
  async next<T extends FromMember['type']>(type: T, step?: number): Promise<Extract<FromMember, { type: T }>> {
    for (;;) {
      const i = this.messages.findIndex((m) => m.type === type && (step === undefined || !('step' in m) || m.step === step));
      if (i >= 0) return this.messages.splice(i, 1)[0] as Extract<FromMember, { type: T }>;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
  async outcome(step: number): Promise<Extract<FromMember, { type: 'reduced' | 'failed' }>> {
    return Promise.race([this.next('reduced', step), this.next('failed', step)]);
  }
}

describe('ring across processes', () => {
  let members: Member[] = [];

  afterAll(() => {
    for (const m of members) if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
  });

  it('reduces 16 MB among 3 processes, then survivors of a SIGKILL fail with PeerDeadlineError naming it', async () => {
    members = Array.from({ length: SIZE }, (_, rank) => new Member(fork(SCRIPT, [String(rank)], { execArgv: ['--require', 'tsx/cjs'], stdio: 'inherit' })));
    const addresses = await Promise.all(members.map((m) => m.next('listening')));
    const peers: RingPeer[] = addresses.map((a, rank) => ({ rank, address: a.address }));
    members.forEach((m) => m.child.send({ type: 'peers', peers, timeoutMs: TIMEOUT_MS }));
    await Promise.all(members.map((m) => m.next('ready')));

    members.forEach((m) => m.child.send({ type: 'reduce', step: 1, elements: ELEMENTS }));
    const first = await Promise.all(members.map((m) => m.outcome(1)));
    for (const o of first) {
      expect(o).toMatchObject({ type: 'reduced', maxError: 0 });
    }

    members.forEach((m) => m.child.send({ type: 'reduce', step: 2, elements: ELEMENTS }));
    await members[SIZE - 1].next('started', 2);
    await new Promise((resolve) => setTimeout(resolve, 15));
    members[SIZE - 1].child.kill('SIGKILL');
    const killedAt = Date.now();
    const survivors = await Promise.all(members.slice(0, SIZE - 1).map((m) => m.outcome(2)));
    expect(Date.now() - killedAt).toBeLessThan(TIMEOUT_MS);
    for (const o of survivors) {
      expect(o.type).toBe('failed');
      if (o.type === 'failed') {
        expect(o.error.name).toBe('PeerDeadlineError');
        expect(o.error.peerRank).toBe(SIZE - 1);
      }
    }
    members.slice(0, SIZE - 1).forEach((m) => m.child.send({ type: 'exit' }));
  }, 60_000);
});
