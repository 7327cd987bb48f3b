export type { NativeBinding } from './binding';
export * from './native-kernels';
export { tuneAllocator, type AllocatorTuning, type AllocatorTuningOptions } from './allocator';
