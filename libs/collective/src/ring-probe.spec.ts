import { createServer, type AddressInfo, type Server } from 'node:net';
import { probeRingPort, refusedEverywhere, splitAddress } from './ring-probe';

function listen(): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer((socket) => socket.destroy());
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

describe('probeRingPort', () => {
  it("says 'open' while a server listens and 'refused' once it has closed", async () => {
    const server = await listen();
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect(await probeRingPort(address)).toBe('open');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await probeRingPort(address)).toBe('refused');
  });

  it("still says 'refused' when this process's event loop stalled past the timeout meanwhile (a busy host): the refusal already in wins over the expired timer", async () => {
    const server = await listen();
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const probe = probeRingPort(address, 100);
    const until = Date.now() + 300;
    while (Date.now() < until); // a synchronous stall of 3× the probe's timeout
    expect(await probe).toBe('refused');
  });

  it("says 'unknown', not 'refused', when the host cannot be reached or resolved", async () => {
    expect(await probeRingPort('no-such-host.invalid:7070', 2000)).toBe('unknown');
  });

  it('parses host:port, bracketed IPv6 included, and refuses anything else', () => {
    expect(splitAddress('10.0.0.7:7070')).toEqual({ host: '10.0.0.7', port: 7070 });
    expect(splitAddress('[::1]:7070')).toEqual({ host: '::1', port: 7070 });
    expect(splitAddress('worker-0.unroll:7070')).toEqual({ host: 'worker-0.unroll', port: 7070 });
    for (const bad of ['7070', 'host:', 'host:0', 'host:70000', '::1:7070']) expect(() => splitAddress(bad)).toThrow(TypeError);
  });

  it('counts a name with several addresses as refused only when every address refused', () => {
    const err = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
    const aggregate = (...codes: string[]) => Object.assign(new AggregateError(codes.map(err)), { code: codes[0] });
    expect(refusedEverywhere(err('ECONNREFUSED'))).toBe(true);
    expect(refusedEverywhere(err('ETIMEDOUT'))).toBe(false);
    expect(refusedEverywhere(aggregate('ECONNREFUSED', 'ECONNREFUSED'))).toBe(true);
    expect(refusedEverywhere(aggregate('ECONNREFUSED', 'ENETUNREACH'))).toBe(false);
  });
});
