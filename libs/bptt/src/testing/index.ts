/**
 * Test helpers for @unroll/bptt (not part of the lib's main index): tiny networks,
 * deterministic data, comparisons of parameter sets, and small wrappers that record
 * or alter what the Trainer reads.
 */
export * from './tiny';
export * from './wrappers';
