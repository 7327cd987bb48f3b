/**
 * A session's committed training state as the tensors of a state transfer (DESIGN
 * "worker joins: enters at the next step; gets parameters and optimizer state from a
 * member over gRPC"; libs/collective state-transfer.ts moves them):
 *
 *   param.<name>        the committed parameters of version `step`, network order
 *   optimizer.<slot>    the optimizer's slots at that version (exp_avg.…, momentum.…)
 *   unroll.meta         UTF-8 JSON {optimizer meta, counters, parameter names}, its
 *                       bytes padded with spaces to a multiple of 4 and carried as
 *                       float32 words (the transfer moves float32 tensors only)
 *
 * The optimizer's state is the one of the committed version: while an update is
 * staged (reported, not yet committed) it is the state kept for its rollback.
 * Hidden states are not part of it: they live in the HiddenStateStore.
 */
import type { StateSnapshot, StateTensor } from '@unroll/collective';
import type { ExperimentSession } from './experiment-session';
import { stagingCopy } from './staged-update';

const META = 'unroll.meta';

export class StateSnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateSnapshotError';
  }
}

interface Meta {
  optimizer: Record<string, number | string | boolean>;
  counters: { skipped: number; clipped: number };
  params: string[];
}

/** The committed state of `session` (version `session.version`) for a joiner of `generation`. */
export function snapshotOf(session: ExperimentSession, generation: number): StateSnapshot {
  // The optimizer's state of the committed version. While an update is staged, its rollback copy —
  // copied here: once that update commits, the copy's arrays are reused for the next staging (spareOptimizerState).
  const staged = session.staged?.optimizerBefore;
  const optimizer = staged ? { slots: new Map([...staged.slots].map(([k, a]) => [k, Float32Array.from(a)])), meta: { ...staged.meta } } : session.optimizer.state();
  const tensors: StateTensor[] = [];
  for (const spec of session.net.specs) tensors.push({ name: `param.${spec.name}`, shape: [...spec.shape], data: session.params.get(spec.name) as Float32Array });
  for (const [slot, data] of optimizer.slots) tensors.push({ name: `optimizer.${slot}`, shape: [data.length], data });
  const meta: Meta = { optimizer: optimizer.meta, counters: { ...session.counters }, params: session.parameterOrder };
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 4) * 4, 0x20);
  json.copy(padded);
  tensors.push({ name: META, shape: [padded.length / 4], data: new Float32Array(padded.buffer, padded.byteOffset, padded.length / 4) });
  return { experiment: session.id, generation, step: session.version, tensors };
}

/**
 * Puts a transferred state into a session that is at version 0 and has run nothing:
 * parameters (on shared memory, as committed ones are), optimizer, counters and
 * version. Every parameter of the network must arrive with its exact size.
 */
export function restoreSnapshot(session: ExperimentSession, snapshot: StateSnapshot): void {
  if (session.version !== 0 || session.staged) throw new StateSnapshotError(`experiment ${session.id}: a state transfer goes into a fresh session (this one is at version ${session.version})`);
  const byName = new Map(snapshot.tensors.map((t) => [t.name, t]));
  const metaTensor = byName.get(META);
  if (!metaTensor) throw new StateSnapshotError(`state of ${snapshot.experiment} at step ${snapshot.step}: no ${META}`);
  let meta: Meta;
  try {
    const bytes = Buffer.from(metaTensor.data.buffer, metaTensor.data.byteOffset, metaTensor.data.byteLength);
    meta = JSON.parse(bytes.toString('utf8').trimEnd()) as Meta;
  } catch (e) {
    throw new StateSnapshotError(`state of ${snapshot.experiment}: ${META} is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const order = session.parameterOrder;
  if (JSON.stringify(meta.params) !== JSON.stringify(order)) throw new StateSnapshotError(`state of ${snapshot.experiment}: parameters ${meta.params.join(', ')} are not this network's (${order.join(', ')})`);
  const params = new Map<string, Float32Array>();
  for (const spec of session.net.specs) {
    const t = byName.get(`param.${spec.name}`);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (!t || t.data.length !== size) throw new StateSnapshotError(`state of ${snapshot.experiment}: parameter ${spec.name} ${t ? `has ${t.data.length} values` : 'is missing'}, the network needs ${size}`);
    params.set(spec.name, t.data);
  }
  const slots = new Map<string, Float32Array>();
  for (const t of snapshot.tensors) if (t.name.startsWith('optimizer.')) slots.set(t.name.slice('optimizer.'.length), t.data);
  session.optimizer.load({ slots, meta: meta.optimizer });
  session.restoreCommitted(stagingCopy(params), snapshot.step, meta.counters);
}
