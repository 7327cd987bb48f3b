import { HiddenStateStore } from '../interfaces';

/** HiddenStateStore in a Map; layers are copied in and out, as bytes would be. */
export class InMemoryHiddenStateStore implements HiddenStateStore {
  /** experiment → `${first}:${count}:${step}` → { step, layers } */
  private readonly states = new Map<string, Map<string, { step: number; layers: Float32Array[] }>>();

  async get(experiment: string, first: number, count: number, step: number): Promise<Float32Array[] | undefined> {
    const s = this.states.get(experiment)?.get(`${first}:${count}:${step}`);
    return s === undefined ? undefined : s.layers.map((l) => Float32Array.from(l));
  }

  async put(experiment: string, first: number, count: number, step: number, layers: Float32Array[]): Promise<void> {
    let byKey = this.states.get(experiment);
    if (byKey === undefined) this.states.set(experiment, (byKey = new Map()));
    byKey.set(`${first}:${count}:${step}`, { step, layers: layers.map((l) => Float32Array.from(l)) });
  }

  async deleteBefore(experiment: string, step: number): Promise<number> {
    const byKey = this.states.get(experiment);
    if (byKey === undefined) return 0;
    let deleted = 0;
    for (const [key, s] of byKey) {
      if (s.step < step) {
        byKey.delete(key);
        deleted++;
      }
    }
    return deleted;
  }

  async deleteAll(experiment: string): Promise<number> {
    const n = this.states.get(experiment)?.size ?? 0;
    this.states.delete(experiment);
    return n;
  }
}
