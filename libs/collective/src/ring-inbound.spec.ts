/**
 * RingInbound's hand-over: `ready()` resolves with nothing and `take()` returns
 * the message, so that no promise ever holds a received chunk (a promise that
 * waited long enough to be promoted would keep the chunk alive until the next
 * mark-compact: bench/allreduce/RESULTS.md, fifth pass). Flow control and
 * failure are checked against a stand-in for the grpc-js call.
 */
import { EventEmitter } from 'node:events';
import type { RingClient, RingDownstream__Output, RingUpstream } from '@unroll/proto';
import { PeerDeadlineError } from './collective-errors';
import { INBOX_HIGH_WATER } from './message-inbox';
import { RingInbound } from './ring-inbound';

class FakeCall extends EventEmitter {
  readonly written: RingUpstream[] = [];
  paused = false;
  write(m: RingUpstream): boolean {
    this.written.push(m);
    return true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  ended = false;
  cancelled = false;
  end(): void {
    this.ended = true;
  }
  cancel(): void {
    this.cancelled = true;
  }
}

function setUp(): { call: FakeCall; inbound: RingInbound } {
  const call = new FakeCall();
  const client = { Stream: () => call } as unknown as RingClient;
  const inbound = new RingInbound(client, { rank: 0, address: 'test:0' }, { experiment: 'e', generation: 1, rank: 1, size: 2 }, 60_000);
  return { call, inbound };
}

const chunk = (i: number): RingDownstream__Output => ({ body: 'chunk', chunk: { bucket: i } }) as unknown as RingDownstream__Output;

describe('RingInbound', () => {
  it('subscribes, then hands messages over by ready() (no value) and take(), in order', async () => {
    const { call, inbound } = setUp();
    expect(call.written[0]).toMatchObject({ subscribe: { experiment: 'e', generation: 1, rank: 1, size: 2 } });
    const waiting = inbound.ready();
    call.emit('data', chunk(0));
    call.emit('data', chunk(1));
    await expect(waiting).resolves.toBeUndefined();
    expect(inbound.take()).toEqual(chunk(0));
    await expect(inbound.ready()).resolves.toBeUndefined();
    expect(inbound.take()).toEqual(chunk(1));
    expect(() => inbound.take()).toThrow(/no message queued/);
  });

  it('pauses the stream at the high-water mark and resumes once drained to half', async () => {
    const { call, inbound } = setUp();
    for (let i = 0; i < INBOX_HIGH_WATER; i++) call.emit('data', chunk(i));
    expect(call.paused).toBe(true);
    for (let i = 0; i < INBOX_HIGH_WATER / 2; i++) {
      await inbound.ready();
      inbound.take();
    }
    expect(call.paused).toBe(false);
  });

  it('delivers what is queued after the call fails, then rejects ready()', async () => {
    const { call, inbound } = setUp();
    call.emit('data', chunk(0));
    call.emit('end');
    await expect(inbound.ready()).resolves.toBeUndefined();
    expect(inbound.take()).toEqual(chunk(0));
    await expect(inbound.ready()).rejects.toBeInstanceOf(PeerDeadlineError);
  });

  it('rejects a pending ready() when the call fails', async () => {
    const { call, inbound } = setUp();
    const waiting = inbound.ready();
    call.emit('end');
    await expect(waiting).rejects.toBeInstanceOf(PeerDeadlineError);
  });
});
