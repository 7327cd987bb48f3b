/**
 * Is anything listening at a ring member's address? A plain TCP connect, closed at
 * once: no gRPC, no TLS, so it needs no credentials and says nothing to the member.
 *
 * Only a refused connection is proof: the host answered that no process holds the
 * port, so the member that served there is gone. Everything else — a connection
 * accepted, a timeout (a dropped packet, a NetworkPolicy), a name that does not
 * resolve, an unreachable network — proves nothing about the member, and says
 * `'unknown'` or `'open'`; the caller then waits for the member's heartbeat to
 * expire instead.
 */
import { connect } from 'node:net';

export type RingPortProbe = 'refused' | 'open' | 'unknown';

/** `host:port`, with IPv6 hosts in brackets (`[::1]:7070`). */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port > 0 && port < 65536)) throw new TypeError(`not a host:port address: ${JSON.stringify(address)}`);
  return { host: m[1] ?? m[2], port };
}

/**
 * Tries one TCP connection to `address` within `timeoutMs`. The timeout's verdict
 * waits for the I/O already in: when the event loop stalled past `timeoutMs` (a busy
 * host), the expired timer can run before the poll that delivers the refusal that
 * arrived meanwhile, and would otherwise win.
 */
export function probeRingPort(address: string, timeoutMs = 1000): Promise<RingPortProbe> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const done = (result: RingPortProbe): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // setImmediate runs after this loop iteration's poll phase, which delivers a connection's outcome already in.
    const timer = setTimeout(() => setImmediate(() => done('unknown')), timeoutMs);
    socket.once('connect', () => done('open'));
    socket.once('error', (e: NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] }) => done(refusedEverywhere(e) ? 'refused' : 'unknown'));
  });
}

/**
 * Refused at every address tried: a host name with several addresses (IPv4 and IPv6)
 * is tried address by address, and the failure is then an AggregateError of each.
 */
export function refusedEverywhere(e: NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] }): boolean {
  if (Array.isArray(e.errors) && e.errors.length > 0) return e.errors.every((x) => x.code === 'ECONNREFUSED');
  return e.code === 'ECONNREFUSED';
}
