export * from './char-vocab';
export * from './streams';
export * from './text-corpus';
