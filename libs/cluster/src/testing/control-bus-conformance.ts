/**
 * The conformance suite of ControlBus, for every implementation. A fixture can open
 * several clients of one broker (as several processes would) and publish raw text
 * (as a broken or foreign publisher would).
 */
import { ControlBus, ControlMessage } from '../interfaces';
import { sleep, useFixture, waitFor } from './conformance-helpers';

export interface ControlBusFixture {
  /** A client of the shared broker; each call may return a new connection. */
  connect(): Promise<ControlBus>;
  /** Publishes raw text on the channel of `experiment`. */
  publishRaw(experiment: string, raw: string): Promise<void>;
  /** Malformed messages dropped so far, summed over the clients. */
  dropped(): number;
  close(): Promise<void>;
}

const commit = (experiment: string, step: number): ControlMessage => ({ type: 'commit', experiment, generation: 1, step });

export function describeControlBusConformance(name: string, factory: () => Promise<ControlBusFixture>): void {
  describe(`ControlBus conformance: ${name}`, () => {
    const fixture = useFixture(factory);

    it('delivers every message of an experiment in order to each of its subscribers, and to no other', async () => {
      const [publisher, a, b] = [await fixture().connect(), await fixture().connect(), await fixture().connect()];
      const gotA: ControlMessage[] = [];
      const gotA2: ControlMessage[] = [];
      const gotB: ControlMessage[] = [];
      const gotOther: ControlMessage[] = [];
      await a.subscribe('exp', (m) => gotA.push(m));
      await b.subscribe('exp', (m) => gotA2.push(m));
      await b.subscribe('exp-2', (m) => gotB.push(m));
      await a.subscribe('other', (m) => gotOther.push(m));
      const sent = Array.from({ length: 50 }, (_, i) => commit('exp', i));
      for (const m of sent) void publisher.publish(m);
      await publisher.publish(commit('exp-2', 0));
      await waitFor(() => gotA.length === 50 && gotA2.length === 50 && gotB.length === 1, 'all messages');
      expect(gotA).toEqual(sent);
      expect(gotA2).toEqual(sent);
      expect(gotB).toEqual([commit('exp-2', 0)]);
      expect(gotOther).toEqual([]);
    });

    it('carries every message type intact, including a NaN gradient norm', async () => {
      const bus = await fixture().connect();
      const got: ControlMessage[] = [];
      await bus.subscribe('exp', (m) => got.push(m));
      const messages: ControlMessage[] = [
        { type: 'reduce', experiment: 'exp', generation: 2, step: 3, count: 640, lossSum: 1234.5, jobs: [{ firstStream: 0, worker: 'w2' }, { firstStream: 4, worker: 'w1' }] },
        { type: 'report', experiment: 'exp', generation: 2, step: 3, member: 'w1', ok: true, gradNorm: 0.5, skipped: false, reduceSeconds: 0.25, applySeconds: 0.125 },
        { type: 'report', experiment: 'exp', generation: 2, step: 3, member: 'w2', ok: false, gradNorm: Number.NaN, skipped: true, reduceSeconds: Number.NaN, applySeconds: Number.NaN, error: 'NaN' },
        { type: 'commit', experiment: 'exp', generation: 2, step: 3 },
        { type: 'abort', experiment: 'exp', generation: 2, step: 4, reason: 'peer w2 missed its deadline' },
        { type: 'generation', experiment: 'exp', generation: 3, step: 4, members: ['w1', 'w3'] },
      ];
      for (const m of messages) await bus.publish(m);
      await waitFor(() => got.length === messages.length, 'six messages');
      expect(got).toEqual(messages);
    });

    it('stops delivering after unsubscribe, to that handler only', async () => {
      const bus = await fixture().connect();
      const first: ControlMessage[] = [];
      const second: ControlMessage[] = [];
      const unsubscribe = await bus.subscribe('exp', (m) => first.push(m));
      await bus.subscribe('exp', (m) => second.push(m));
      await bus.publish(commit('exp', 0));
      await waitFor(() => first.length === 1 && second.length === 1, 'first message');
      await unsubscribe();
      await bus.publish(commit('exp', 1));
      await waitFor(() => second.length === 2, 'second message');
      await sleep(50);
      expect(first).toHaveLength(1);
    });

    it('drops and counts malformed messages and keeps delivering', async () => {
      const bus = await fixture().connect();
      const got: ControlMessage[] = [];
      await bus.subscribe('exp', (m) => got.push(m));
      await fixture().publishRaw('exp', '{not json');
      await fixture().publishRaw('exp', JSON.stringify({ type: 'launch', experiment: 'exp', generation: 1, step: 0 }));
      await fixture().publishRaw('exp', JSON.stringify({ type: 'commit', experiment: 'exp', generation: -1, step: 0 }));
      await fixture().publishRaw('exp', JSON.stringify({ type: 'abort', experiment: 'exp', generation: 1, step: 0 }));
      await fixture().publishRaw('exp', JSON.stringify(commit('someone-else', 0)));
      // A reduce whose accepted jobs repeat a first stream would count a job twice.
      await fixture().publishRaw('exp', JSON.stringify({ type: 'reduce', experiment: 'exp', generation: 1, step: 0, count: 4, lossSum: 1, jobs: [{ firstStream: 0, worker: 'a' }, { firstStream: 0, worker: 'b' }] }));
      // A report's suspect peer must be a worker id.
      await fixture().publishRaw('exp', JSON.stringify({ type: 'report', experiment: 'exp', generation: 1, step: 0, member: 'a', ok: false, gradNorm: null, skipped: false, reduceSeconds: null, applySeconds: null, peer: 7 }));
      await bus.publish(commit('exp', 7));
      await waitFor(() => got.length === 1, 'the valid message');
      expect(got).toEqual([commit('exp', 7)]);
      expect(fixture().dropped()).toBe(7);
    });

    it('a throwing handler does not stop delivery to the others', async () => {
      const bus = await fixture().connect();
      const got: ControlMessage[] = [];
      await bus.subscribe('exp', () => {
        throw new Error('handler bug');
      });
      await bus.subscribe('exp', (m) => got.push(m));
      await bus.publish(commit('exp', 0));
      await bus.publish(commit('exp', 1));
      await waitFor(() => got.length === 2, 'both messages');
    });

    it('refuses to publish a malformed message', async () => {
      const bus = await fixture().connect();
      const bad = { type: 'commit', experiment: 'exp', generation: 1.5, step: 0 } as ControlMessage;
      await expect(bus.publish(bad)).rejects.toThrow('commit.generation is invalid');
    });
  });
}
