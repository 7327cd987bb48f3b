/**
 * The conformance suite of MembershipStore: every implementation (in-memory, Redis)
 * must pass it. Liveness is measured on real time with short TTLs, since the Redis
 * implementation expires keys by Redis's own clock.
 *
 * Usage in a spec: describeMembershipStoreConformance('RedisMembershipStore', async () => ({ subject, close }));
 */
import { MembershipStore, WorkerInfo } from '../interfaces';
import { Fixture, sleep, useFixture } from './conformance-helpers';

const worker = (id: string, extra: Partial<WorkerInfo> = {}): WorkerInfo => ({
  id,
  ringAddress: `10.0.0.1:${5000 + id.length}`,
  backend: 'wasm',
  kernel: 'tfjs',
  device: 'cpu',
  startedAt: 1_700_000_000_123,
  ...extra,
});

export function describeMembershipStoreConformance(name: string, factory: () => Promise<Fixture<MembershipStore>>): void {
  describe(`MembershipStore conformance: ${name}`, () => {
    const fixture = useFixture(factory);
    let store: MembershipStore;
    beforeEach(() => {
      store = fixture().subject;
    });

    it('lists registered workers sorted by id, with every field', async () => {
      await store.register(worker('w-b'), 10_000);
      await store.register(worker('w-a', { backend: 'cpu', kernel: 'native', device: 'cpu:0' }), 10_000);
      expect(await store.alive()).toEqual([worker('w-a', { backend: 'cpu', kernel: 'native', device: 'cpu:0' }), worker('w-b')]);
    });

    it('re-registering replaces the info', async () => {
      await store.register(worker('w'), 10_000);
      await store.register(worker('w', { ringAddress: '10.0.0.2:7000' }), 10_000);
      expect(await store.alive()).toEqual([worker('w', { ringAddress: '10.0.0.2:7000' })]);
    });

    it('forgets a worker whose TTL expired; its heartbeat then returns false', async () => {
      await store.register(worker('short'), 150);
      await store.register(worker('long'), 10_000);
      expect((await store.alive()).map((w) => w.id)).toEqual(['long', 'short']);
      await sleep(300);
      expect((await store.alive()).map((w) => w.id)).toEqual(['long']);
      expect(await store.heartbeat('short', 10_000)).toBe(false);
      expect((await store.alive()).map((w) => w.id)).toEqual(['long']);
    });

    it('heartbeat keeps a worker alive past its first TTL', async () => {
      // Generous margins (TTL 500 ms, beat every 150 ms) so a loaded CI machine does not flake.
      await store.register(worker('w'), 500);
      for (let i = 0; i < 5; i++) {
        await sleep(150);
        expect(await store.heartbeat('w', 500)).toBe(true);
      }
      expect((await store.alive()).map((w) => w.id)).toEqual(['w']);
      await sleep(800);
      expect(await store.alive()).toEqual([]);
    });

    it('heartbeat of an unknown worker returns false and registers nothing', async () => {
      expect(await store.heartbeat('ghost', 1000)).toBe(false);
      expect(await store.alive()).toEqual([]);
    });

    it('deregister removes a worker at once', async () => {
      await store.register(worker('a'), 10_000);
      await store.register(worker('b'), 10_000);
      await store.deregister('a');
      await store.deregister('never-registered');
      expect((await store.alive()).map((w) => w.id)).toEqual(['b']);
      expect(await store.heartbeat('a', 1000)).toBe(false);
    });

    it('withdraw removes the registration of one process only, not of a later process registered under the same id', async () => {
      const first = worker('a');
      await store.register(first, 10_000);
      await store.register(worker('b'), 10_000);
      const again = { ...first, startedAt: first.startedAt + 1 };
      await store.register(again, 10_000); // the same id, restarted
      expect(await store.withdraw(first)).toBe(false);
      expect(await store.withdraw({ ...again, ringAddress: 'elsewhere:1' })).toBe(false);
      expect((await store.alive()).map((w) => w.id)).toEqual(['a', 'b']);
      expect(await store.withdraw(again)).toBe(true);
      expect((await store.alive()).map((w) => w.id)).toEqual(['b']);
      expect(await store.heartbeat('a', 1000)).toBe(false);
      expect(await store.withdraw(again)).toBe(false);
    });
  });
}
