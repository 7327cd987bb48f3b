/**
 * The work arrays of the recurrent window op on the native kernel (window-op.ts,
 * cells/native-cell.ts): the input projection, the forward's outputs and saved
 * activations, the backward's ∂L/∂xProj — ~8 MB per layer and window at the
 * foundation's LSTM shapes. They are handed back once the window's backward is done
 * and reused by the next window at the same shapes, already mapped: fresh arrays of
 * that size cost page faults and, as external memory, frequent full garbage
 * collections (on a worker's compute thread, 0.7 a window).
 *
 * Arrays that end up inside tensors (the weight and state gradients, the packed
 * output) are never taken from here: the cpu backend keeps the array it is given.
 */
import { BufferPool } from './conv/scratch';

/** @defaultValue 256 MiB of free arrays at most (a deep network's windows; more is left to the GC) */
export const windowBuffers = new BufferPool(256 * 1024 * 1024);
