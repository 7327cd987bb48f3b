/**
 * The coordinator's view of worker liveness (MembershipStore): forming a ring from
 * the alive workers, and noticing a member whose registration expired (no
 * heartbeat) or was withdrawn while a step waits on it, so that the wait ends with an error naming that worker instead of a
 * hang.
 */
import type { MembershipStore } from '@unroll/cluster';

export class CoordinatorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Fewer than workers.min workers were alive within the formation timeout. */
export class RingFormationTimeoutError extends CoordinatorError {}

/**
 * A member of the current generation left the cluster: its registration expired (no
 * heartbeat within the TTL) or was withdrawn — by itself when it stopped, or by a
 * ring peer that found its ring port closed (apps/worker ring-collectives.ts).
 */
export class MemberLostError extends CoordinatorError {
  constructor(
    readonly members: string[],
    during: string,
  ) {
    super(`worker${members.length > 1 ? 's' : ''} ${members.join(', ')} left the cluster (registration expired or withdrawn) during ${during}`);
  }
}

export interface MembershipWatcherOptions {
  /** How often liveness is read. @defaultValue 500 ms */
  pollMs?: number;
  /** How long to wait for workers.min workers. @defaultValue 5 min — time for `unroll up` or a cluster to bring its workers up */
  formTimeoutMs?: number;
}

export class MembershipWatcher {
  constructor(
    private readonly membership: Pick<MembershipStore, 'alive'>,
    private readonly options: MembershipWatcherOptions = {},
  ) {}

  private get pollMs(): number {
    return this.options.pollMs ?? 500;
  }

  /** Waits for `min` alive workers and returns up to `max` of them, by id (rank = index). */
  async form(workers: { min: number; max: number }, experiment: string): Promise<string[]> {
    const timeoutMs = this.options.formTimeoutMs ?? 5 * 60_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const alive = (await this.membership.alive()).map((w) => w.id);
      if (alive.length >= workers.min) return alive.slice(0, workers.max);
      if (Date.now() >= deadline) {
        throw new RingFormationTimeoutError(
          `experiment ${experiment} needs workers.min = ${workers.min} workers; ${alive.length} alive after ${Math.round(timeoutMs / 1000)} s${alive.length ? ` (${alive.join(', ')})` : ''}: start more with \`unroll up --workers ${workers.min}\``,
        );
      }
      await sleep(this.pollMs);
    }
  }

  /** Ids of the workers alive now, by id. */
  async alive(): Promise<string[]> {
    return (await this.membership.alive()).map((w) => w.id);
  }

  /** Members that are no longer alive. */
  async lost(members: readonly string[]): Promise<string[]> {
    const alive = new Set((await this.membership.alive()).map((w) => w.id));
    return members.filter((id) => !alive.has(id));
  }

  /**
   * Settles like `work`, unless a member stops heartbeating first: then rejects with
   * MemberLostError naming it. Liveness is read every pollMs while `work` runs.
   */
  async guard<T>(members: readonly string[], during: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const watch = new Promise<never>((_, reject) => {
      const check = async (): Promise<void> => {
        if (stopped) return;
        try {
          const lost = await this.lost(members);
          if (lost.length > 0) return reject(new MemberLostError(lost, during));
        } catch {
          // a failed read of liveness is not a lost member; try again
        }
        if (!stopped) timer = setTimeout(() => void check(), this.pollMs);
      };
      timer = setTimeout(() => void check(), this.pollMs);
    });
    work.catch(() => undefined);
    try {
      return await Promise.race([work, watch]);
    } finally {
      stopped = true;
      clearTimeout(timer);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
