#!/usr/bin/env node
// The `unroll` command. Unroll runs its TypeScript sources through tsx's CommonJS
// loader (esbuild per file, no build step to forget); the sources are the program.
require('tsx/cjs');
require('../src/main.ts').main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
