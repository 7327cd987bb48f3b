export { tf } from './tf';
export * from './backend';
export * from './cells';
export * from './gemm';
export * from './rng';
export * from './window-op';
export * from './embedding';
export * from './linear-cross-entropy';
export * from './network';
