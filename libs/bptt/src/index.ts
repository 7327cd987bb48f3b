export * from './schedule';
export * from './sequence-data';
export * from './losses';
export * from './gradients';
export * from './optimizers';
export * from './state-store';
export * from './window-gradients';
export * from './trainer';
