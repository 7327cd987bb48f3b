import { EventEmitter } from 'node:events';
import { createReducer } from './create-reducer';
import { RingOutbound, type RingServerStream } from './ring-outbound';
import { RingReduction, type RingReceiveEdge } from './ring-reduction';

/** The parts of a server call RingOutbound uses. */
function fakeCall(): RingServerStream {
  const call = new EventEmitter() as EventEmitter & { writableEnded: boolean; destroyed: boolean; write: () => boolean; end: () => void };
  call.writableEnded = false;
  call.destroyed = false;
  call.write = () => true;
  call.end = () => undefined;
  return call as unknown as RingServerStream;
}

describe('RingOutbound.onFailure', () => {
  it('tells each listener of the failure once, forgets removed ones, and answers late listeners at once', () => {
    const call = fakeCall();
    const edge = new RingOutbound(call, { rank: 1, address: '127.0.0.1:1' }, { experiment: 'e', generation: 1 });
    const heard: string[] = [];
    const removeA = edge.onFailure((e) => heard.push(`a: ${e.message}`));
    edge.onFailure((e) => heard.push(`b: ${e.message}`));
    removeA();
    call.emit('cancelled');
    call.emit('error', new Error('again')); // a second failure is not reported
    edge.onFailure((e) => heard.push(`late: ${e.message}`));
    const why = 'peer rank 1 at 127.0.0.1:1: ring stream cancelled by the receiver';
    expect(heard).toEqual([`b: ${why}`, `late: ${why}`]);
  });
});

describe('RingReduction on a send edge that failed before it started', () => {
  it('rejects with the edge failure and leaves no rejection unhandled', async () => {
    const unhandled: unknown[] = [];
    const trap = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', trap);
    try {
      const call = fakeCall();
      const outbound = new RingOutbound(call, { rank: 1, address: '127.0.0.1:1' }, { experiment: 'e', generation: 1 });
      call.emit('cancelled');
      const inbound: RingReceiveEdge = {
        predecessor: { rank: 1, address: '127.0.0.1:1' },
        ready: () => new Promise<void>(() => undefined),
        take: () => {
          throw new Error('nothing was received');
        },
        refuse: () => undefined,
        ack: () => undefined,
      };
      const reduction = new RingReduction({
        rank: 0,
        size: 2,
        ctx: { experiment: 'e', generation: 1, step: 0 },
        buffers: [new Float32Array(1024)],
        bucketElements: 1024,
        chunkElements: 256,
        inbound,
        outbound,
        reducer: createReducer('inline'),
        timeoutMs: 5_000,
      });
      await expect(reduction.run()).rejects.toThrow('ring stream cancelled by the receiver');
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', trap);
    }
  });
});
