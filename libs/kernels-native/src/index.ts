export type { NativeBinding } from './binding';
export * from './native-kernels';
export { ALLOCATOR_TUNING_DEFAULTS, mallocIsMapped, tuneAllocator, type AllocatorTuning, type AllocatorTuningOptions } from './allocator';
