import { ExperimentNotFoundError, ExperimentExistsError, FencingError } from '../cluster-errors';
import { ExperimentRecord, ExperimentStatus, ExperimentStore } from '../interfaces';
import { fencingMessage } from '../experiment-fencing';

export interface InMemoryExperimentStoreOptions {
  /** @defaultValue Date.now */
  now?: () => number;
}

/** ExperimentStore in a Map, with the same compare-and-set rules as the Redis one. */
export class InMemoryExperimentStore implements ExperimentStore {
  private readonly records = new Map<string, ExperimentRecord>();
  private readonly now: () => number;

  constructor(opts: InMemoryExperimentStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  async create(record: Omit<ExperimentRecord, 'updatedAt'>): Promise<void> {
    if (this.records.has(record.id)) throw new ExperimentExistsError(record.id);
    this.records.set(record.id, { ...record, members: [...record.members], updatedAt: this.now() });
  }

  async get(id: string): Promise<ExperimentRecord | undefined> {
    const r = this.records.get(id);
    return r === undefined ? undefined : { ...r, members: [...r.members] };
  }

  async newGeneration(id: string, members: string[]): Promise<number> {
    const r = this.require(id);
    r.generation += 1;
    r.members = [...members];
    r.updatedAt = this.now();
    return r.generation;
  }

  async commit(id: string, generation: number, step: number): Promise<void> {
    const r = this.require(id);
    if (r.generation !== generation || r.step !== step) {
      throw new FencingError(fencingMessage(id, { generation: r.generation, step: r.step }, { generation, step }));
    }
    r.step = step + 1;
    r.updatedAt = this.now();
  }

  async setStatus(id: string, status: ExperimentStatus, error?: string): Promise<void> {
    const r = this.require(id);
    r.status = status;
    if (error === undefined) delete r.error;
    else r.error = error;
    r.updatedAt = this.now();
  }

  private require(id: string): ExperimentRecord {
    const r = this.records.get(id);
    if (r === undefined) throw new ExperimentNotFoundError(id);
    return r;
  }
}
