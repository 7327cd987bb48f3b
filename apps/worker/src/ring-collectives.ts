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
import { GrpcRingCollective, type Collective, type RingServer } from '@unroll/collective';
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
    const collective = await GrpcRingCollective.start({ rank, peers, server: this.server, timeoutMs: this.options.timeoutMs });
    this.current = { key, collective };
    return collective;
  }

  async close(): Promise<void> {
    if (this.current) await this.current.collective.close();
    else this.server.shutdown();
    this.current = undefined;
  }
}
