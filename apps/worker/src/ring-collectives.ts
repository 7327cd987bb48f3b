/**
 * The gRPC ring of a generation, for one worker: member ids → ring addresses from
 * the MembershipStore, rank = index in the member list. The worker's RingServer is
 * bound once at start (its address is what the worker registers) and outlives the
 * collectives: a new member list makes a new GrpcRingCollective on the same
 * server, which then routes calls to it; the same processes (ids, addresses, start
 * times) reuse the collective (the generation is per call, and the collective fences
 * it itself) unless one of them was found gone.
 *
 * A ring peer whose stream fails from its side is probed (ring-probe.ts): when its
 * ring port refuses a connection, its process is gone, and this worker withdraws
 * its registration at once, so the coordinator learns within a liveness poll (under
 * a second) what the heartbeat's expiry would tell it only after the TTL (10 s) —
 * whether the step was reducing (a failed report) or computing (a job that will
 * never finish). A peer that is alive, unreachable or merely re-dialling is left
 * alone: only a refused connection proves anything. Before a member list's first
 * reduction there are no streams to fail; a worker that dies then is probed by its
 * predecessor once that one has waited 1 s in the reduction for its subscription.
 *
 * Limitation: GrpcRingCollective.close() also shuts the server down, so a replaced
 * collective is left to the garbage collector rather than closed (its channel to the
 * old predecessor stays open until then). One ring per worker at a time.
 */
import { fetchState, GrpcRingCollective, probeRingPort, type Collective, type RingPortProbe, type RingServer, type StateSnapshot, type StateSource } from '@unroll/collective';
import type { MembershipStore, WorkerInfo } from '@unroll/cluster';
import { RingFormationError, type CollectiveProvider } from './step-participant';

export { RingFormationError };

/** Probes of a failed peer's ring port before the heartbeat is left to decide (RingCollectives.probePort). */
const PROBE_ATTEMPTS = 3;
const PROBE_RETRY_MS = 250;
/** Rounds of PROBE_ATTEMPTS: a failure during a round that found the port answering makes one more (a live peer whose streams keep failing is not probed on and on). */
const PROBE_ROUNDS = 2;

export interface RingCollectivesOptions {
  /** Deadline of one all-reduce. @defaultValue 30 s (COLLECTIVE_DEFAULTS) */
  timeoutMs?: number;
  /** How a failed peer's ring port is probed; 'off': never (a dead peer is left to its heartbeat). @defaultValue probeRingPort with a 1 s timeout */
  probe?: ((address: string) => Promise<RingPortProbe>) | 'off';
  log?: (line: string) => void;
}

export class RingCollectives implements CollectiveProvider {
  private current: { key: string; collective: GrpcRingCollective; unwatch: () => void } | undefined;
  /**
   * Probes in flight, by collective and worker id (both edges to a dead peer fail
   * together); `again`: another failure came in meanwhile, so a round that found the
   * port answering (begun, say, while the peer was only slow) is repeated, up to
   * PROBE_ROUNDS rounds in all.
   */
  private readonly probing = new WeakMap<GrpcRingCollective, Map<string, { again: boolean }>>();
  /** Serves joiners' FetchState from the worker's sessions (serveState). */
  private stateSource: StateSource | undefined;

  constructor(
    private readonly server: RingServer,
    private readonly membership: Pick<MembershipStore, 'alive' | 'withdraw'>,
    private readonly options: RingCollectivesOptions = {},
  ) {}

  async forMembers(experiment: string, members: readonly string[], rank: number): Promise<Collective> {
    const alive = new Map((await this.membership.alive()).map((w) => [w.id, w]));
    const infos = members.map((id, r) => {
      const info = alive.get(id);
      if (info === undefined) throw new RingFormationError(`experiment ${experiment}: ring member ${id} (rank ${r}) is not alive`, id);
      return info;
    });
    const peers = infos.map((w, r) => ({ rank: r, address: w.ringAddress }));
    // One ring per set of processes: a process that restarted (even with the same id and address) makes another.
    const key = JSON.stringify(infos.map((w) => [w.id, w.ringAddress, w.startedAt]));
    if (this.current?.key === key && !this.current.collective.isGone) return this.current.collective;
    const collective = await GrpcRingCollective.start({ rank, peers, server: this.server, timeoutMs: this.options.timeoutMs, stateSource: this.stateSource });
    this.current?.unwatch();
    const unwatch = collective.onPeerFailure((peer, error) => void this.checkPeer(collective, peer.rank, infos[peer.rank], error.reason));
    this.current = { key, collective, unwatch };
    return collective;
  }

  /**
   * A peer's stream failed from its side. If nothing listens at its ring address any
   * more, its process is gone: a reduction waiting on it fails now, and its
   * registration (that process's, not a later one's under the same id) is withdrawn.
   */
  private async checkPeer(collective: GrpcRingCollective, rank: number, peer: WorkerInfo | undefined, reason: string): Promise<void> {
    if (peer === undefined || this.options.probe === 'off') return;
    let probing = this.probing.get(collective);
    if (!probing) this.probing.set(collective, (probing = new Map()));
    const inFlight = probing.get(peer.id);
    if (inFlight) {
      inFlight.again = true;
      return;
    }
    const entry = { again: false };
    probing.set(peer.id, entry);
    try {
      let found: RingPortProbe;
      let rounds = 0;
      do {
        entry.again = false;
        found = await this.probePort(peer.ringAddress);
      } while (found !== 'refused' && entry.again && ++rounds < PROBE_ROUNDS && !collective.isGone);
      if (found !== 'refused') {
        this.log(`ring peer ${peer.id} (rank ${rank}): ${reason}; its ring port ${peer.ringAddress} is ${found === 'open' ? 'open' : 'not answering'}: left to its heartbeat`);
        return;
      }
      const gone = `${reason}; its ring port ${peer.ringAddress} refuses connections: its process is gone`;
      collective.peerGone(rank, gone);
      const withdrawn = await this.membership.withdraw(peer);
      this.log(`ring peer ${peer.id} (rank ${rank}): ${gone}, ${withdrawn ? 'registration withdrawn' : 'its registration already gone or another process’s'}`);
    } catch (e) {
      this.log(`checking ring peer ${peer.id} at ${peer.ringAddress}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      probing.delete(peer.id);
    }
  }

  /**
   * PROBE_ATTEMPTS probes PROBE_RETRY_MS apart, until one is refused: a process
   * still exiting (its listening socket not yet closed) or a probe that timed out on
   * a busy host gets another chance before the heartbeat is left to decide.
   */
  private async probePort(address: string): Promise<RingPortProbe> {
    const probe = typeof this.options.probe === 'function' ? this.options.probe : (a: string) => probeRingPort(a, 1000);
    let found: RingPortProbe = 'unknown';
    for (let attempt = 1; attempt <= PROBE_ATTEMPTS; attempt++) {
      found = await probe(address);
      if (found === 'refused' || attempt === PROBE_ATTEMPTS) break;
      await new Promise((resolve) => setTimeout(resolve, PROBE_RETRY_MS));
    }
    return found;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  serveState(source: StateSource): void {
    this.stateSource = source;
  }

  /**
   * The committed state of `experiment` at version `step`, from the first of `from`
   * (member ids) that is alive and has it: a member still applying the commit of
   * step − 1 is asked again, every 100 ms, until `timeoutMs`.
   */
  async fetchState(experiment: string, generation: number, step: number, from: readonly string[], timeoutMs = 60_000): Promise<StateSnapshot> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no member alive';
    for (;;) {
      const alive = new Map((await this.membership.alive()).map((w) => [w.id, w.ringAddress]));
      for (const id of from) {
        const address = alive.get(id);
        if (address === undefined) continue;
        try {
          const snapshot = await fetchState(address, { experiment, generation }, { timeoutMs: Math.max(1000, deadline - Date.now()) });
          if (snapshot.step === step) return snapshot;
          last = `${id} is at step ${snapshot.step}`;
        } catch (e) {
          last = `${id}: ${e instanceof Error ? e.message : String(e)}`;
        }
      }
      if (Date.now() >= deadline) throw new RingFormationError(`experiment ${experiment}: no member gave its state at step ${step} within ${timeoutMs} ms (last: ${last})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async close(): Promise<void> {
    this.current?.unwatch();
    if (this.current) await this.current.collective.close();
    else this.server.shutdown();
    this.current = undefined;
  }
}
