export * from './experiment';
export * from './checkpointing';
export * from './training-run';
export * from './evaluation';
export * from './task-data';
