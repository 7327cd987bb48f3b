export * from './frame';
export * from './im2col';
export * from './conv-lstm-layer';
export * from './conv-lstm-window';
export * from './conv-lstm-network';
export * from './cnn-encoder';
