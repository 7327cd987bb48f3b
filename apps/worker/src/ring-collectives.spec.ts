/**
 * RingCollectives over real gRPC rings in this process: a member whose process is
 * gone (here: its ring server shut down, as a killed process's port closes) is
 * withdrawn from the membership by the neighbours whose streams to it failed — and
 * only when its ring port refuses connections.
 */
import { RingServer, type RingPortProbe } from '@unroll/collective';
import { InMemoryMembershipStore } from '@unroll/cluster/testing';
import { RingCollectives } from './ring-collectives';

const IDS = ['a', 'b', 'c'];

async function ringOfThree(probe?: (address: string) => Promise<RingPortProbe>) {
  const membership = new InMemoryMembershipStore();
  const logs: string[] = [];
  const servers = await Promise.all(IDS.map(() => RingServer.bind('127.0.0.1:0')));
  for (const [i, id] of IDS.entries()) await membership.register({ id, ringAddress: servers[i].address, backend: 'cpu', kernel: 'tfjs', device: 'cpu', startedAt: 0 }, 60_000);
  const providers = servers.map((server) => new RingCollectives(server, membership, { log: (line) => logs.push(line), probe }));
  const collectives = await Promise.all(providers.map((p, rank) => p.forMembers('exp', IDS, rank)));
  // One reduction opens the long-lived streams between neighbours.
  await Promise.all(collectives.map((c) => c.allReduceSum({ experiment: 'exp', generation: 1, step: 0 }, [new Float32Array(1000).fill(1)])));
  return { membership, logs, servers, providers, collectives };
}

async function aliveIds(membership: InMemoryMembershipStore): Promise<string[]> {
  return (await membership.alive()).map((w) => w.id);
}

async function until(condition: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

describe('RingCollectives: a ring peer whose process is gone', () => {
  it('is withdrawn from the membership by its neighbours once its ring port refuses connections', async () => {
    const { membership, logs, providers, collectives } = await ringOfThree();
    try {
      await providers[2].close(); // c's server goes: its streams end and its port closes
      expect(await until(async () => !(await aliveIds(membership)).includes('c'), 5000)).toBe(true);
      expect(await aliveIds(membership)).toEqual(['a', 'b']);
      expect(logs.join('\n')).toMatch(/ring peer c \(rank 2\): .*; its ring port 127\.0\.0\.1:\d+ refuses connections: its process is gone, registration withdrawn/);
      // A reduction of the old member list fails at once, naming c, rather than at its 30 s deadline.
      const started = Date.now();
      const ring = await providers[0].forMembers('exp', IDS, 0).catch(() => undefined); // c is no longer alive: no ring
      expect(ring).toBeUndefined();
      await expect(collectives[0].allReduceSum({ experiment: 'exp', generation: 1, step: 1 }, [new Float32Array(10)])).rejects.toThrow(/rank 2 .*refuses connections/);
      expect(Date.now() - started).toBeLessThan(5000);

      // c restarts under the same id: a new ring of the same member list, which reduces.
      const server = await RingServer.bind('127.0.0.1:0');
      await membership.register({ id: 'c', ringAddress: server.address, backend: 'cpu', kernel: 'tfjs', device: 'cpu', startedAt: 1 }, 60_000);
      providers[2] = new RingCollectives(server, membership);
      const again = await Promise.all(providers.map((p, rank) => p.forMembers('exp', IDS, rank)));
      expect(again[0]).not.toBe(collectives[0]);
      const sums = IDS.map(() => new Float32Array(10).fill(1));
      await Promise.all(again.map((c, i) => c.allReduceSum({ experiment: 'exp', generation: 2, step: 1 }, [sums[i]])));
      expect(sums.map((a) => a[0])).toEqual([3, 3, 3]);
    } finally {
      await Promise.all(providers.map((p) => p.close()));
    }
  });

  it('is probed again (3 probes, 250 ms apart) when the first cannot tell — a process still exiting, a probe timed out on a busy host — and withdrawn on the refusal', async () => {
    let first: number | undefined;
    // The port cannot be told for 400 ms, then refuses: only the third probe (at 500 ms) sees it.
    const { membership, logs, providers } = await ringOfThree(async () => {
      first ??= Date.now();
      return Date.now() - first < 400 ? 'unknown' : 'refused';
    });
    try {
      await providers[2].close();
      expect(await until(async () => !(await aliveIds(membership)).includes('c'), 5000)).toBe(true);
      expect(Date.now() - (first as number)).toBeGreaterThanOrEqual(400);
      expect(logs.join('\n')).toMatch(/ring peer c \(rank 2\): .*refuses connections: its process is gone, registration withdrawn/);
    } finally {
      await Promise.all(providers.slice(0, 2).map((p) => p.close()));
    }
  });

  it('stays registered when its port still accepts connections, or when the probe cannot tell', async () => {
    for (const answer of ['open', 'unknown'] as const) {
      const probed: string[] = [];
      const { membership, logs, providers } = await ringOfThree(async (address) => {
        probed.push(address);
        return answer;
      });
      try {
        await providers[2].close();
        const verdict = new RegExp(`ring peer c \\(rank 2\\): .*; its ring port \\S+ is ${answer === 'open' ? 'open' : 'not answering'}: left to its heartbeat`);
        expect(await until(async () => verdict.test(logs.join('\n')), 5000)).toBe(true);
        expect(probed.length).toBeGreaterThanOrEqual(3); // tried 3 times before leaving it to the heartbeat
        expect(await aliveIds(membership)).toEqual(IDS);
      } finally {
        await Promise.all(providers.slice(0, 2).map((p) => p.close()));
      }
    }
  });
});

describe('RingCollectives: a ring peer gone before the ring reduced once (no streams yet)', () => {
  it("is found by its predecessor 1 s into the first reduction: that reduction fails naming it, and it is withdrawn", async () => {
    const membership = new InMemoryMembershipStore();
    const servers = await Promise.all(IDS.map(() => RingServer.bind('127.0.0.1:0')));
    for (const [i, id] of IDS.entries()) await membership.register({ id, ringAddress: servers[i].address, backend: 'cpu', kernel: 'tfjs', device: 'cpu', startedAt: 0 }, 60_000);
    const providers = servers.map((server) => new RingCollectives(server, membership));
    try {
      const collectives = await Promise.all(providers.map((p, rank) => p.forMembers('exp', IDS, rank)));
      await providers[2].close();
      const started = Date.now();
      const reductions = collectives.slice(0, 2).map((c) => c.allReduceSum({ experiment: 'exp', generation: 1, step: 0 }, [new Float32Array(10)]));
      // b (rank 1) waits for c's subscription: after 1 s it probes c's port and gives up on it.
      await expect(reductions[1]).rejects.toThrow(/rank 2 .*has not opened its ring stream .*refuses connections/);
      await expect(reductions[0]).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await aliveIds(membership)).toEqual(['a', 'b']);
    } finally {
      await Promise.all(providers.map((p) => p.close()));
    }
  });
});
