import { ControlMessage } from './interfaces';

/**
 * Control messages cross process boundaries as JSON text. Every receiver validates
 * what arrives with parseControlMessage: a malformed message is dropped (and counted
 * by the bus), never handed to business code and never allowed to crash the process.
 */

type Check = (v: unknown) => boolean;
const str: Check = (v) => typeof v === 'string';
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const int: Check = (v) => Number.isInteger(v) && (v as number) >= 0;
const bool: Check = (v) => typeof v === 'boolean';
const strings: Check = (v) => Array.isArray(v) && v.every((x) => typeof x === 'string');
/** gradNorm may be NaN or Infinity in a report (that is what the check found), a timing NaN (not measured); JSON carries them as null. */
const numOrNull: Check = (v) => v === null || typeof v === 'number';
/** AcceptedJob[]: distinct first streams, each with a worker id. */
const acceptedJobs: Check = (v) =>
  Array.isArray(v) &&
  v.every((j) => j !== null && typeof j === 'object' && int((j as Record<string, unknown>)['firstStream']) && str((j as Record<string, unknown>)['worker'])) &&
  new Set(v.map((j) => (j as { firstStream: number }).firstStream)).size === v.length;

/** Required fields of each message type beyond (type, experiment, generation, step); `?` marks optional ones. */
const FIELDS: Record<ControlMessage['type'], Record<string, Check>> = {
  reduce: { count: num, lossSum: numOrNull, jobs: acceptedJobs, 'barrier?': bool },
  report: { member: str, ok: bool, gradNorm: numOrNull, skipped: bool, reduceSeconds: numOrNull, applySeconds: numOrNull, 'error?': str, 'jobs?': str, 'peer?': str },
  commit: {},
  abort: { reason: str },
  generation: { members: strings },
};

/** Why `value` is not a ControlMessage, or undefined if it is one. */
export function controlMessageProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  const o = value as Record<string, unknown>;
  const type = o['type'];
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(FIELDS, type)) {
    return `unknown type ${JSON.stringify(type)}`;
  }
  const common: Record<string, Check> = { experiment: str, generation: int, step: int };
  const fields = { ...common, ...FIELDS[type as ControlMessage['type']] };
  for (const [spec, check] of Object.entries(fields)) {
    const optional = spec.endsWith('?');
    const name = optional ? spec.slice(0, -1) : spec;
    const v = o[name];
    if (v === undefined && optional) continue;
    if (!check(v)) return `${type}.${name} is invalid: ${JSON.stringify(v)}`;
  }
  return undefined;
}

/** Serializes a message; NaN/Infinity become null and come back as NaN. */
export function encodeControlMessage(message: ControlMessage): string {
  const problem = controlMessageProblem(JSON.parse(JSON.stringify(message)) as unknown);
  if (problem !== undefined) throw new TypeError(`refusing to publish a malformed control message: ${problem}`);
  return JSON.stringify(message);
}

/** Parses and validates raw text: the message, or the problem that makes it invalid. */
export function parseControlMessage(raw: string): { message: ControlMessage } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { problem: 'not JSON' };
  }
  const problem = controlMessageProblem(value);
  if (problem !== undefined) return { problem };
  const m = value as Record<string, unknown>;
  for (const k of ['gradNorm', 'lossSum', 'reduceSeconds', 'applySeconds']) if (m[k] === null) m[k] = Number.NaN;
  return { message: value as ControlMessage };
}

/** Called for every dropped message; the default writes one line to stderr. */
export type DroppedMessageListener = (experiment: string, problem: string) => void;

export const warnDroppedMessage: DroppedMessageListener = (experiment, problem) => {
  process.stderr.write(`unroll control bus: dropped a malformed message on experiment ${experiment}: ${problem}\n`);
};

/** Called when a subscriber's handler throws; the bus goes on delivering. The default writes to stderr. */
export type HandlerErrorListener = (experiment: string, error: unknown) => void;

export const warnHandlerError: HandlerErrorListener = (experiment, error) => {
  process.stderr.write(`unroll control bus: a handler of experiment ${experiment} threw: ${String(error)}\n`);
};

/** Options every ControlBus implementation takes. */
export interface ControlBusListeners {
  /** Told of every malformed message dropped. @defaultValue one line to stderr */
  onDropped?: DroppedMessageListener;
  /** Told when a handler throws (delivery goes on). @defaultValue one line to stderr */
  onHandlerError?: HandlerErrorListener;
}

/**
 * Validates `raw` for `experiment`'s channel and calls each handler, isolating
 * handler errors. Returns false (and calls onDropped) when the message is dropped.
 */
export function deliverControlMessage(
  experiment: string,
  raw: string,
  handlers: Iterable<(m: ControlMessage) => void>,
  listeners: ControlBusListeners,
): boolean {
  const parsed = parseControlMessage(raw);
  if ('problem' in parsed || parsed.message.experiment !== experiment) {
    const problem = 'problem' in parsed ? parsed.problem : `names experiment ${JSON.stringify(parsed.message.experiment)}`;
    (listeners.onDropped ?? warnDroppedMessage)(experiment, problem);
    return false;
  }
  for (const handler of handlers) {
    try {
      handler(structuredClone(parsed.message));
    } catch (error) {
      (listeners.onHandlerError ?? warnHandlerError)(experiment, error);
    }
  }
  return true;
}
