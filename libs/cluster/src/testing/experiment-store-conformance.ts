/**
 * The conformance suite of ExperimentStore, for every implementation: the record
 * round trip, and compare-and-set commits fenced by the generation.
 */
import { ExperimentExistsError, ExperimentNotFoundError, FencingError } from '../cluster-errors';
import { ExperimentRecord, ExperimentStore } from '../interfaces';
import { Fixture, sleep, useFixture } from './conformance-helpers';

const record = (id: string, extra: Partial<ExperimentRecord> = {}): Omit<ExperimentRecord, 'updatedAt'> => ({
  id,
  specYaml: 'apiVersion: unroll/v1\nkind: Experiment\nmetadata: { name: "a:b" }\n',
  status: 'queued',
  step: 0,
  generation: 0,
  members: [],
  ...extra,
});

export function describeExperimentStoreConformance(name: string, factory: () => Promise<Fixture<ExperimentStore>>): void {
  describe(`ExperimentStore conformance: ${name}`, () => {
    const fixture = useFixture(factory);
    let store: ExperimentStore;
    beforeEach(() => {
      store = fixture().subject;
    });

    it('round-trips a record and stamps updatedAt', async () => {
      const before = Date.now();
      await store.create(record('e1', { members: ['w1', 'w2'], step: 4, generation: 2 }));
      const got = await store.get('e1');
      expect(got).toEqual({ ...record('e1', { members: ['w1', 'w2'], step: 4, generation: 2 }), updatedAt: expect.any(Number) });
      expect(got?.updatedAt).toBeGreaterThanOrEqual(before);
      expect(await store.get('nope')).toBeUndefined();
    });

    it('refuses to create an existing experiment', async () => {
      await store.create(record('e1'));
      await expect(store.create(record('e1', { step: 9 }))).rejects.toBeInstanceOf(ExperimentExistsError);
      expect((await store.get('e1'))?.step).toBe(0);
    });

    it('newGeneration increments the generation and replaces the members', async () => {
      await store.create(record('e1', { members: ['w1'] }));
      expect(await store.newGeneration('e1', ['w2', 'w1'])).toBe(1);
      expect(await store.newGeneration('e1', ['w3'])).toBe(2);
      const got = await store.get('e1');
      expect(got).toMatchObject({ generation: 2, members: ['w3'], step: 0 });
      await expect(store.newGeneration('nope', [])).rejects.toBeInstanceOf(ExperimentNotFoundError);
    });

    it('commit advances the step under the current generation', async () => {
      await store.create(record('e1', { generation: 3, step: 7 }));
      await store.commit('e1', 3, 7);
      await store.commit('e1', 3, 8);
      expect((await store.get('e1'))?.step).toBe(9);
    });

    it('commit refuses a stale generation and says expected vs got', async () => {
      await store.create(record('e1'));
      await store.newGeneration('e1', ['w1']);
      const refused = store.commit('e1', 0, 0);
      await expect(refused).rejects.toBeInstanceOf(FencingError);
      await expect(refused).rejects.toThrow('expected generation 1 step 0, got generation 0 step 0');
      expect((await store.get('e1'))?.step).toBe(0);
    });

    it('commit refuses a step that is not the current one', async () => {
      await store.create(record('e1', { step: 5 }));
      await expect(store.commit('e1', 0, 4)).rejects.toThrow('expected generation 0 step 5, got generation 0 step 4');
      await expect(store.commit('e1', 0, 6)).rejects.toBeInstanceOf(FencingError);
      await expect(store.commit('nope', 0, 0)).rejects.toBeInstanceOf(ExperimentNotFoundError);
      expect((await store.get('e1'))?.step).toBe(5);
    });

    it('of two concurrent commits of one step exactly one wins', async () => {
      await store.create(record('e1', { step: 2, generation: 1 }));
      for (let round = 0; round < 10; round++) {
        const outcomes = await Promise.allSettled([store.commit('e1', 1, 2 + round), store.commit('e1', 1, 2 + round)]);
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
        expect(lost.reason).toBeInstanceOf(FencingError);
      }
      expect((await store.get('e1'))?.step).toBe(12);
    });

    it('setStatus sets and clears the error and bumps updatedAt', async () => {
      await store.create(record('e1'));
      const created = (await store.get('e1'))?.updatedAt as number;
      await sleep(5);
      await store.setStatus('e1', 'failed', 'worker w1: NaN in step 3');
      expect(await store.get('e1')).toMatchObject({ status: 'failed', error: 'worker w1: NaN in step 3' });
      expect((await store.get('e1'))?.updatedAt).toBeGreaterThan(created);
      await store.setStatus('e1', 'running');
      const running = await store.get('e1');
      expect(running?.status).toBe('running');
      expect(running).not.toHaveProperty('error');
      await expect(store.setStatus('nope', 'running')).rejects.toBeInstanceOf(ExperimentNotFoundError);
    });
  });
}
