/**
 * Checkpoints of a training run, in two safetensors files (see @unroll/checkpoint):
 *
 *   step-N.safetensors        the weights alone, named and laid out as PyTorch's
 *                             word_language_model RNNModel, so `load_state_dict`
 *                             takes them; metadata: `vocab` (JSON list of tokens in
 *                             index order), `unroll.model` (network config JSON),
 *                             `unroll.specHash`, `unroll.identity`
 *   step-N.state.safetensors  optimizer slots `optimizer.<slot>.<parameter>`, the
 *                             hidden state of every stream `streams.h_l{k}` /
 *                             `streams.c_l{k}` [S, H] at the start of step N (a
 *                             bidirectional model adds `streams.h_l{k}_reverse` /
 *                             `streams.c_l{k}_reverse`, zero: its windows are
 *                             independent sequences);
 *                             metadata: optimizer scalars, data cursor, RNG state,
 *                             spec hash, counters
 */
import { createHash } from 'node:crypto';
import { assertTensorsMatch, type CheckpointParts, type NamedTensor } from '@unroll/checkpoint';
import { directionSuffix, directions, type NetworkConfig, type NetworkState, type ParameterSpec } from '@unroll/models';
import { canonicalJson, specHash, type ExperimentSpec } from '@unroll/spec';
import type { NamedArrays } from '../gradients';
import type { OptimizerState } from '../optimizers';

export class ResumeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResumeError';
  }
}

/**
 * What must match for a checkpoint to be resumed under a spec: everything but the
 * run length, checkpoint and evaluation cadence, backend and worker counts — those
 * may change between runs of one experiment.
 */
export function trainingIdentity(spec: ExperimentSpec): string {
  const { steps: _steps, checkpoint: _c, eval: _e, workers: _w, backend: _b, kernel: _k, ...rest } = spec.spec;
  return createHash('sha256').update(canonicalJson({ apiVersion: spec.apiVersion, kind: spec.kind, spec: rest })).digest('hex');
}

export interface TrainingSnapshot {
  step: number;
  params: NamedArrays;
  optimizer: OptimizerState;
  /** [S, H] per layer at the start of `step`. */
  streams: NetworkState;
  rng: Uint32Array;
  cursor: { epoch: number; window: number };
  counters: { skipped: number; clipped: number };
  vocab?: readonly string[];
}

const f32 = (data: Float32Array, shape: number[]): NamedTensor => ({ dtype: 'F32', shape, data });

export function toCheckpointParts(spec: ExperimentSpec, net: { config: NetworkConfig; specs: readonly ParameterSpec[] }, snap: TrainingSnapshot): CheckpointParts {
  const modelTensors: Record<string, NamedTensor> = {};
  const shapes = new Map(net.specs.map((s) => [s.name, s.shape]));
  for (const s of net.specs) modelTensors[s.name] = f32(snap.params.get(s.name) as Float32Array, s.shape);
  const modelMeta: Record<string, string> = {
    'unroll.model': JSON.stringify(net.config),
    'unroll.specHash': specHash(spec),
    'unroll.identity': trainingIdentity(spec),
    'unroll.experiment': spec.metadata.name,
  };
  if (snap.vocab) modelMeta.vocab = JSON.stringify(snap.vocab);
  const stateTensors: Record<string, NamedTensor> = {};
  for (const [key, a] of snap.optimizer.slots) {
    const param = key.slice(key.indexOf('.') + 1);
    stateTensors[`optimizer.${key}`] = f32(a, shapes.get(param) ?? [a.length]);
  }
  const H = net.config.hidden;
  const D = directions(net.config);
  // State entries are in PyTorch's h_n order: layer k's direction d at D·k + d.
  snap.streams.forEach((l, e) => {
    const name = `l${Math.floor(e / D)}${directionSuffix(e % D)}`;
    stateTensors[`streams.h_${name}`] = f32(l.h, [l.h.length / H, H]);
    if (l.c) stateTensors[`streams.c_${name}`] = f32(l.c, [l.c.length / H, H]);
  });
  const stateMeta: Record<string, string> = {
    'unroll.optimizer': JSON.stringify(snap.optimizer.meta),
    'unroll.cursor': JSON.stringify({ step: snap.step, ...snap.cursor }),
    'unroll.rng': JSON.stringify(Array.from(snap.rng)),
    'unroll.counters': JSON.stringify(snap.counters),
    'unroll.identity': trainingIdentity(spec),
  };
  return { model: { tensors: modelTensors, metadata: modelMeta }, state: { tensors: stateTensors, metadata: stateMeta } };
}

function parseJson<T>(text: string | undefined, what: string, source: string): T {
  if (text === undefined) throw new ResumeError(`${source}: metadata ${what} is missing`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ResumeError(`${source}: metadata ${what} is not valid JSON`);
  }
}

/** Checks a model file's tensors against the network's parameters and returns their values. */
export function modelParams(parts: Pick<CheckpointParts, 'model'>, specs: readonly ParameterSpec[], source: string): NamedArrays {
  const expected = Object.fromEntries(specs.map((s) => [s.name, { shape: s.shape, dtype: 'F32' as const }]));
  assertTensorsMatch(expected, parts.model.tensors, source);
  const out: NamedArrays = new Map();
  for (const s of specs) out.set(s.name, parts.model.tensors[s.name].data as Float32Array);
  return out;
}

export function fromCheckpointParts(spec: ExperimentSpec, specs: readonly ParameterSpec[], layers: number, parts: CheckpointParts & { step: number }, source: string): TrainingSnapshot {
  const identity = trainingIdentity(spec);
  if (parts.model.metadata['unroll.identity'] !== identity) {
    throw new ResumeError(`${source} was written for a different experiment spec (model, data, tbptt, loss, optimizer, clipNorm or seed differ); train into another --out directory or remove the old checkpoints`);
  }
  const params = modelParams(parts, specs, source);
  const sm = parts.state.metadata;
  const slots: NamedArrays = new Map();
  const D = directions(spec.spec.model);
  const streams: NetworkState = Array.from({ length: layers * D }, () => ({ h: new Float32Array(0) }));
  for (const [name, t] of Object.entries(parts.state.tensors)) {
    if (t.dtype !== 'F32') throw new ResumeError(`${source}: state tensor ${name} has dtype ${t.dtype}, expected F32`);
    const data = t.data as Float32Array;
    const m = /^streams\.([hc])_l(\d+)(_reverse)?$/.exec(name);
    if (name.startsWith('optimizer.')) slots.set(name.slice('optimizer.'.length), data);
    else if (m && Number(m[2]) < layers && (D === 2 || !m[3])) streams[D * Number(m[2]) + (m[3] ? 1 : 0)][m[1] as 'h' | 'c'] = data;
    else throw new ResumeError(`${source}: unexpected state tensor ${name}`);
  }
  const cursor = parseJson<{ step: number; epoch: number; window: number }>(sm['unroll.cursor'], 'unroll.cursor', source);
  if (cursor.step !== parts.step) throw new ResumeError(`${source}: cursor step ${cursor.step} does not match checkpoint step ${parts.step}`);
  const rng = parseJson<number[]>(sm['unroll.rng'], 'unroll.rng', source);
  if (!Array.isArray(rng) || rng.length !== 4) throw new ResumeError(`${source}: RNG state must hold 4 words`);
  return {
    step: parts.step,
    params,
    optimizer: { slots, meta: parseJson(sm['unroll.optimizer'], 'unroll.optimizer', source) },
    streams,
    rng: Uint32Array.from(rng),
    cursor: { epoch: cursor.epoch, window: cursor.window },
    counters: parseJson(sm['unroll.counters'], 'unroll.counters', source),
    vocab: parts.model.metadata.vocab !== undefined ? parseJson<string[]>(parts.model.metadata.vocab, 'vocab', source) : undefined,
  };
}
