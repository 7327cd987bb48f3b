export * from './interfaces';
export * from './cluster-errors';
export * from './control-message';
export * from './hidden-state-codec';
export * from './window-job-id';
