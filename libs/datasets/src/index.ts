export * from './char-vocab';
export * from './streams';
export * from './text-corpus';
export * from './first-names';
export * from './spam-assassin';
export * from './generated-tasks';
export * from './moving-shapes';
export * from './sensor-series';
