import { InlineReducer } from './inline-reducer';
import type { Reducer, ReducerKind } from './reducer';
import { WorkerPoolReducer } from './worker-pool-reducer';

/** Makes the configured reducer; `threads` applies to `worker` only. */
export function createReducer(kind: ReducerKind, threads?: number): Reducer {
  return kind === 'worker' ? new WorkerPoolReducer(threads) : new InlineReducer();
}
