import { MembershipStore, WorkerInfo } from '../interfaces';

export interface InMemoryMembershipStoreOptions {
  /** The clock liveness is measured by; tests pass a fake one. @defaultValue Date.now */
  now?: () => number;
}

/** MembershipStore in a Map; a worker is alive until `now() >= expiresAt`. */
export class InMemoryMembershipStore implements MembershipStore {
  private readonly workers = new Map<string, { info: WorkerInfo; expiresAt: number }>();
  private readonly now: () => number;

  constructor(opts: InMemoryMembershipStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  async register(info: WorkerInfo, ttlMs: number): Promise<void> {
    this.workers.set(info.id, { info: { ...info }, expiresAt: this.now() + ttlMs });
  }

  async heartbeat(id: string, ttlMs: number): Promise<boolean> {
    const entry = this.live(id);
    if (entry === undefined) return false;
    entry.expiresAt = this.now() + ttlMs;
    return true;
  }

  async alive(): Promise<WorkerInfo[]> {
    const ids = [...this.workers.keys()].filter((id) => this.live(id) !== undefined).sort();
    return ids.map((id) => ({ ...(this.workers.get(id) as { info: WorkerInfo }).info }));
  }

  async deregister(id: string): Promise<void> {
    this.workers.delete(id);
  }

  async withdraw(info: Pick<WorkerInfo, 'id' | 'ringAddress' | 'startedAt'>): Promise<boolean> {
    const entry = this.live(info.id);
    if (!entry || entry.info.ringAddress !== info.ringAddress || entry.info.startedAt !== info.startedAt) return false;
    this.workers.delete(info.id);
    return true;
  }

  /** The entry if it has not expired; an expired one is forgotten. */
  private live(id: string): { info: WorkerInfo; expiresAt: number } | undefined {
    const entry = this.workers.get(id);
    if (entry !== undefined && this.now() >= entry.expiresAt) {
      this.workers.delete(id);
      return undefined;
    }
    return entry;
  }
}
