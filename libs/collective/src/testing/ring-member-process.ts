/**
 * One ring member in its own process, driven over the IPC channel by a parent
 * (the multi-process test). Run with `node --require tsx/cjs` via fork().
 *
 * Protocol (parent → child / child → parent):
 *  1. child: {type: 'listening', address} once its server is bound on 127.0.0.1:0
 *  2. parent: {type: 'peers', peers, timeoutMs}  → child: {type: 'ready'}
 *  3. parent: {type: 'reduce', step, elements}   → child: {type: 'started', step}, then
 *     {type: 'reduced', step, ms, maxError} or {type: 'failed', step, ms, error: {name, message, peerRank}}
 *  4. parent: {type: 'exit'}                      → child closes and exits 0
 *
 * Member r contributes x[i] = (r + 1)·((i mod 1024) − 512)/512: every partial sum
 * is exactly representable, so the expected result N(N+1)/2·((i mod 1024) − 512)/512
 * must come back bit-exact (maxError 0).
 */
import { GrpcRingCollective, PeerDeadlineError, RingServer, type RingPeer } from '../index';

type FromParent =
  | { type: 'peers'; peers: RingPeer[]; timeoutMs: number }
  | { type: 'reduce'; step: number; elements: number }
  | { type: 'exit' };

export type FromMember =
  | { type: 'listening'; address: string }
  | { type: 'ready' }
  | { type: 'started'; step: number }
  | { type: 'reduced'; step: number; ms: number; maxError: number }
  | { type: 'failed'; step: number; ms: number; error: { name: string; message: string; peerRank?: number } };

const rank = Number(process.argv[2]);
const send = (message: FromMember): void => {
  process.send?.(message);
};

async function main(): Promise<void> {
  const server = await RingServer.bind('127.0.0.1:0');
  let collective: GrpcRingCollective | undefined;
  send({ type: 'listening', address: server.address });
  process.on('message', (message: FromParent) => {
    void (async () => {
      if (message.type === 'peers') {
        collective = await GrpcRingCollective.start({ rank, peers: message.peers, server, timeoutMs: message.timeoutMs });
        send({ type: 'ready' });
      } else if (message.type === 'reduce' && collective) {
        const size = collective.size;
        const data = new Float32Array(message.elements);
        for (let i = 0; i < data.length; i++) data[i] = ((rank + 1) * ((i % 1024) - 512)) / 512;
        send({ type: 'started', step: message.step });
        const started = performance.now();
        try {
          await collective.allReduceSum({ experiment: 'multi-process', generation: 1, step: message.step }, [data]);
          let maxError = 0;
          const factor = (size * (size + 1)) / 2;
          for (let i = 0; i < data.length; i++) maxError = Math.max(maxError, Math.abs(data[i] - (factor * ((i % 1024) - 512)) / 512));
          send({ type: 'reduced', step: message.step, ms: performance.now() - started, maxError });
        } catch (e) {
          const error = e as Error;
          send({
            type: 'failed',
            step: message.step,
            ms: performance.now() - started,
            error: { name: error.name, message: error.message, peerRank: error instanceof PeerDeadlineError ? error.peer.rank : undefined },
          });
        }
      } else if (message.type === 'exit') {
        await collective?.close();
        process.exit(0);
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}

void main();
