import { EventEmitter } from 'node:events';
import { RingOutbound, type RingServerStream } from './ring-outbound';

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
