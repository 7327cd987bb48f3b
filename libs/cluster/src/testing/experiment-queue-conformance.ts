/** The conformance suite of ExperimentQueue, for every implementation. */
import { ExperimentQueue } from '../interfaces';
import { sleep, useFixture, waitFor } from './conformance-helpers';

export interface ExperimentQueueFixture {
  /** A client of the shared queue, as a coordinator process would open. */
  open(): Promise<ExperimentQueue>;
  close(): Promise<void>;
}

export function describeExperimentQueueConformance(name: string, factory: () => Promise<ExperimentQueueFixture>): void {
  describe(`ExperimentQueue conformance: ${name}`, () => {
    const fixture = useFixture(factory);

    it('delivers each submitted id once, one at a time per consumer', async () => {
      const submitter = await fixture().open();
      const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
      for (const id of ids) await submitter.submit(id);
      await submitter.submit('a'); // still waiting: not queued again
      const delivered: Array<[string, string]> = [];
      const active = new Map<string, number>();
      let overlap = false;
      for (const c of ['c1', 'c2']) {
        await (await fixture().open()).consume(async (id) => {
          active.set(c, (active.get(c) ?? 0) + 1);
          if ((active.get(c) ?? 0) > 1) overlap = true;
          delivered.push([c, id]);
          await sleep(30);
          active.set(c, (active.get(c) ?? 0) - 1);
        });
      }
      await waitFor(() => delivered.length >= ids.length, 'every id');
      await sleep(200);
      expect(delivered.map(([, id]) => id).sort()).toEqual(ids);
      expect(new Set(delivered.map(([c]) => c))).toEqual(new Set(['c1', 'c2']));
      expect(overlap).toBe(false);
    });

    it('delivers an id again once its earlier run has finished', async () => {
      const queue = await fixture().open();
      const delivered: string[] = [];
      await queue.consume(async (id) => {
        delivered.push(id);
      });
      await queue.submit('exp:1');
      await waitFor(() => delivered.length === 1, 'first delivery');
      await sleep(50);
      await queue.submit('exp:1');
      await waitFor(() => delivered.length === 2, 'second delivery');
      expect(delivered).toEqual(['exp:1', 'exp:1']);
    });

    it('goes on after a handler throws', async () => {
      const queue = await fixture().open();
      const delivered: string[] = [];
      await queue.consume(async (id) => {
        delivered.push(id);
        if (id === 'bad') throw new Error('spec does not parse');
      });
      await queue.submit('bad');
      await queue.submit('good');
      await waitFor(() => delivered.length === 2, 'both ids');
      expect(delivered).toEqual(['bad', 'good']);
    });
  });
}
