/**
 * The gRPC ring of a generation, for one worker: member ids → ring addresses from
 * the MembershipStore, rank = index in the member list. The worker's RingServer is
 * bound once at start (its address is what the worker registers) and outlives the
 * collectives: a new member list makes a new GrpcRingCollective on the same
 * server, which then routes calls to it; the same member list reuses the collective
 * (the generation is per call, and the collective fences it itself).
 *
 * Limitation: GrpcRingCollective.close() also shuts the server down, so a replaced
 * collective is left to the garbage collector rather than closed (its channel to the
 * old predecessor stays open until then). One ring per worker at a time.
 */
import { fetchState, GrpcRingCollective, type Collective, type RingServer, type StateSnapshot, type StateSource } from '@unroll/collective';
import type { MembershipStore } from '@unroll/cluster';
import type { CollectiveProvider } from './step-participant';

export class RingFormationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RingFormationError';
  }
}

export interface RingCollectivesOptions {
  /** Deadline of one all-reduce. @defaultValue 30 s (COLLECTIVE_DEFAULTS) */
  timeoutMs?: number;
}

export class RingCollectives implements CollectiveProvider {
  private current: { key: string; collective: GrpcRingCollective } | undefined;
  /** Serves joiners' FetchState from the worker's sessions (serveState). */
  private stateSource: StateSource | undefined;

  constructor(
    private readonly server: RingServer,
    private readonly membership: Pick<MembershipStore, 'alive'>,
    private readonly options: RingCollectivesOptions = {},
  ) {}

  async forMembers(experiment: string, members: readonly string[], rank: number): Promise<Collective> {
    const alive = new Map((await this.membership.alive()).map((w) => [w.id, w.ringAddress]));
    const peers = members.map((id, r) => {
      const address = alive.get(id);
      if (address === undefined) throw new RingFormationError(`experiment ${experiment}: ring member ${id} (rank ${r}) is not alive`);
      return { rank: r, address };
    });
    const key = JSON.stringify(peers);
    if (this.current?.key === key) return this.current.collective;
    const collective = await GrpcRingCollective.start({ rank, peers, server: this.server, timeoutMs: this.options.timeoutMs, stateSource: this.stateSource });
    this.current = { key, collective };
    return collective;
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
    if (this.current) await this.current.collective.close();
    else this.server.shutdown();
    this.current = undefined;
  }
}
