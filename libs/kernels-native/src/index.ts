export type { NativeBinding } from './binding';
export * from './native-kernels';
