/**
 * Testing entry point of @unroll/models (not part of the lib's main index): the
 * independent references the fused window ops are tested against.
 *
 *   reference-f64 — float64, plain loops, forward + hand-written BPTT, itself
 *                   checked against finite differences;
 *   taped-tf      — the same cells as ordinary tfjs ops, differentiated by tfjs;
 *   reference-f64-bidirectional / taped-tf-bidirectional — the same two for a deep
 *                   (bidirectional) network of those cells.
 */
export { ALL_REF_CELLS, LSTM_VARIANT_CELLS, gateCount, peepholeCount, refCellName } from './ref-cell';
export type { RefCell, RefDims, RefParams } from './ref-cell';
export { referenceBackward, referenceForward } from './reference-f64';
export type { RefBackward, RefForward, RefParamGrads } from './reference-f64';
export { finiteDifference } from './finite-difference';
export { relError } from './rel-error';
export { randomArray, randomParams, seededRandom } from './seeded-random';
export type { Rng } from './seeded-random';
export { tapedWindow } from './taped-tf';
export type { TapedParams, TapedWindowResult } from './taped-tf';
export { referenceDeepBackward, referenceDeepForward } from './reference-f64-bidirectional';
export type { DeepRefBackward, DeepRefDims, DeepRefForward } from './reference-f64-bidirectional';
export { tapedDeepNetwork } from './taped-tf-bidirectional';
export type { TapedWindowOptions } from './taped-tf';
