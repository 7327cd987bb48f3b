// Entry of the worker's compute thread (window-compute.ts): the sources are
// TypeScript, run through tsx's CommonJS loader as the worker process itself is.
require('tsx/cjs');
require('./compute-thread.ts');
