/**
 * Finished all-reduces do not pile up on the long-lived ring edges: the caller's
 * buffers are collectable once the caller drops them. (A reaction on the edge's
 * `failed` promise created inside RingReduction.run kept every reduction, and so
 * every step's gradient buffers, alive for as long as the edge.)
 *
 * Two exceptions, bounded: the reduction that opened the streams — grpc-js keeps an
 * Error captured when a call starts (`callerStackError`), whose unformatted stack
 * frames hold the closures on the stack then, and with them that reduction's
 * buffers, for the stream's lifetime — and the latest one, still referenced by the
 * state its last message left behind until the next reduction.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GrpcRingCollective } from './grpc-ring-collective';
import { RingServer } from './ring-server';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function collectGarbage(): Promise<void> {
  // WeakRefs are cleared by a collection after the job that last dereferenced them.
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
}

describe('RingReduction retention', () => {
  it('keeps no finished reduction, nor the buffers it reduced, alive on the edges', async () => {
    const servers = await Promise.all([0, 1].map(() => RingServer.bind('127.0.0.1:0')));
    const members: GrpcRingCollective[] = [];
    try {
      const peers = servers.map((server, rank) => ({ rank, address: server.address }));
      members.push(...(await Promise.all(servers.map((server, rank) => GrpcRingCollective.start({ rank, peers, server, timeoutMs: 10_000 })))));
      // Per step and member: the arrays and their ArrayBuffers (payloads are Buffer views
      // of the latter). Two buffers per call: one large enough to be reduced in place, and
      // several small ones fused into a pooled bucket (staged in and out).
      const reduced: Array<{ step: number; ref: WeakRef<object> }> = [];
      for (let step = 0; step < 8; step++) {
        const calls = members.map((_, rank) => [new Float32Array(300_000).fill(rank + 1), new Float32Array(1000).fill(rank + 1), new Float32Array(3000).fill(rank + 1)]);
        await Promise.all(members.map((m, rank) => m.allReduceSum({ experiment: 'retention', generation: 1, step }, calls[rank])));
        expect([calls[0][0][123], calls[0][1][999], calls[1][2][0]]).toEqual([3, 3, 3]);
        for (const b of calls.flat()) reduced.push({ step, ref: new WeakRef(b) }, { step, ref: new WeakRef(b.buffer) });
      }
      await collectGarbage();
      const retained = reduced.filter((r) => r.ref.deref() !== undefined).map((r) => r.step);
      expect(retained.filter((step) => step !== 0 && step !== 7)).toEqual([]);
    } finally {
      await Promise.all(members.map((m) => m.close()));
      if (members.length < servers.length) for (const s of servers) s.shutdown();
    }
  });
});
