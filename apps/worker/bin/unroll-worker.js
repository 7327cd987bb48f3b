#!/usr/bin/env node
// The `unroll-worker` process. Like the `unroll` command, it runs its TypeScript
// sources through tsx's CommonJS loader; `unroll up` starts it as a child process.
require('tsx/cjs');
require('../src/worker-main.ts')
  .main(process.argv)
  .then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
