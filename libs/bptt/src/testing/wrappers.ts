/**
 * Wrappers around what the Trainer reads, for tests:
 *   RecordingData       — a SequenceData that logs every window asked for;
 *   RecordingStateStore — a StreamStateStore that logs every state handed out;
 *   ResetStateStore     — a StreamStateStore that forgets: every window starts from
 *                         a zero state (TBPTT without state carry, the control arm
 *                         of the carry experiment).
 */
import type { NetworkState, RecurrentNetwork } from '@unroll/models';
import type { SequenceData, WindowData } from '../sequence-data';
import { InMemoryStateStore, type StreamStateStore } from '../state-store';

export interface WindowRequest {
  firstStream: number;
  count: number;
  start: number;
  T: number;
}

export class RecordingData implements SequenceData {
  readonly requests: WindowRequest[] = [];

  constructor(private readonly inner: SequenceData) {}

  get streams(): number {
    return this.inner.streams;
  }

  get positions(): number {
    return this.inner.positions;
  }

  window(firstStream: number, count: number, start: number, T: number): WindowData {
    this.requests.push({ firstStream, count, start, T });
    return this.inner.window(firstStream, count, start, T);
  }
}

export interface StateRead {
  first: number;
  count: number;
  step: number;
  state: NetworkState | undefined;
}

export class RecordingStateStore implements StreamStateStore {
  readonly reads: StateRead[] = [];
  readonly inner = new InMemoryStateStore();

  get(first: number, count: number, step: number): NetworkState | undefined {
    const state = this.inner.get(first, count, step);
    this.reads.push({ first, count, step, state });
    return state;
  }

  put(first: number, count: number, step: number, state: NetworkState): void {
    this.inner.put(first, count, step, state);
  }

  prune(beforeStep: number): void {
    this.inner.prune(beforeStep);
  }
}

export class ResetStateStore implements StreamStateStore {
  constructor(private readonly net: RecurrentNetwork) {}

  get(_first: number, count: number): NetworkState {
    return this.net.zeroState(count);
  }

  put(): void {
    // forgets: the next window starts from zeros
  }

  prune(): void {
    // nothing stored
  }
}
