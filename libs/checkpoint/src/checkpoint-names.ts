/**
 * File names of a checkpoint directory. Step s (zero-padded to 8 digits so names sort by step)
 * is two files:
 *
 *   step-00000042.safetensors        model weights; its presence marks the checkpoint complete
 *   step-00000042.state.safetensors  trainer state (optimizer, hidden states, cursor, RNG …)
 */
const MODEL_NAME = /^step-(\d{8,})\.safetensors$/;
const STATE_NAME = /^step-(\d{8,})\.state\.safetensors$/;
const STEP_DIGITS = 8;

function stepPart(step: number): string {
  return String(step).padStart(STEP_DIGITS, '0');
}

export function modelFileName(step: number): string {
  return `step-${stepPart(step)}.safetensors`;
}

export function stateFileName(step: number): string {
  return `step-${stepPart(step)}.state.safetensors`;
}

function parse(pattern: RegExp, fileName: string): number | undefined {
  const match = pattern.exec(fileName);
  if (match === null) return undefined;
  const step = Number(match[1]);
  // Reject names that are not the canonical spelling of their step (e.g. 9 digits with a leading 0).
  return Number.isSafeInteger(step) && match[1] === stepPart(step) ? step : undefined;
}

/** The step of a model file's base name, or undefined if it is not one. */
export function parseModelFileName(fileName: string): number | undefined {
  return parse(MODEL_NAME, fileName);
}

/** The step of a state file's base name, or undefined if it is not one. */
export function parseStateFileName(fileName: string): number | undefined {
  return parse(STATE_NAME, fileName);
}
