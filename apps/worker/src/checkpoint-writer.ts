/**
 * Checkpoints of a distributed run, in exactly the format of `unroll train`
 * (toCheckpointParts in libs/bptt/src/run/checkpointing.ts), in
 * `<checkpointDir>/<metadata.name>/`, so `unroll eval`, `unroll train` (resume) and
 * PyTorch read them alike.
 *
 * Written by rank 0 from committed values only: the parameters and optimizer slots
 * of version v, and the hidden state of every stream at the start of step v,
 * gathered group by group from the HiddenStateStore (zeros at an epoch's start).
 */
import path from 'node:path';
import { joinStates, toCheckpointParts } from '@unroll/bptt';
import { CheckpointStore } from '@unroll/checkpoint';
import type { HiddenStateStore } from '@unroll/cluster';
import type { ExperimentSession } from './experiment-session';

/** Versions that get a checkpoint: every `checkpoint.every` steps and the last one, as `unroll train`. */
export function checkpointDue(session: ExperimentSession, version: number): boolean {
  const { steps, checkpoint } = session.spec.spec;
  return version > 0 && (version % checkpoint.every === 0 || version === steps);
}

export class CheckpointWriter {
  private readonly stores = new Map<string, CheckpointStore>();

  constructor(
    private readonly checkpointDir: string,
    private readonly states: Pick<HiddenStateStore, 'get'>,
  ) {}

  /** Directory of an experiment's checkpoints. */
  dirOf(session: ExperimentSession): string {
    return path.join(this.checkpointDir, session.spec.metadata.name);
  }

  /** Writes the committed version of `session`; returns the model file's path. */
  async write(session: ExperimentSession): Promise<string> {
    const step = session.version;
    if (session.staged) throw new Error(`experiment ${session.id}: refusing to checkpoint version ${step} with an update staged`);
    const parts = [];
    for (const [first, n] of session.schedule.microBatches()) {
      const stored = session.schedule.windowAt(step).index === 0 ? undefined : await this.states.get(session.id, first, n, step);
      parts.push(session.stateAt(first, n, step, stored));
    }
    const plan = session.schedule.windowAt(step);
    const dir = this.dirOf(session);
    let store = this.stores.get(dir);
    if (!store) this.stores.set(dir, (store = new CheckpointStore(dir, { keep: session.spec.spec.checkpoint.keep })));
    const entry = await store.save(
      step,
      toCheckpointParts(session.spec, session.net, {
        step,
        params: session.params,
        optimizer: session.optimizer.state(),
        streams: joinStates(parts),
        rng: session.rngState,
        cursor: { epoch: plan.epoch, window: plan.index },
        counters: { ...session.counters },
        vocab: session.data.vocab?.tokens,
      }),
    );
    return entry.modelPath;
  }
}
