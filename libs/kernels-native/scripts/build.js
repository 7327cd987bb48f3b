#!/usr/bin/env node
// Builds build/Release/unroll_kernels.node with node-gyp.
//
//   node scripts/build.js             build; exit non-zero when it cannot (CI, `npm run build:native`)
//   node scripts/build.js --optional  the install hook: try, and on a machine without
//                                     OpenBLAS or a compiler say why and exit 0, so
//                                     `npm ci` succeeds and Unroll uses the tfjs kernels.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const openblas = require('./openblas');

const optional = process.argv.includes('--optional');
const root = path.resolve(__dirname, '..');

function giveUp(reason) {
  const msg = `@unroll/kernels-native: not built: ${reason}`;
  if (!optional) {
    console.error(msg);
    process.exit(1);
  }
  console.warn(`${msg}\n  Unroll will use the tfjs kernels. For the native ones: apt-get install libopenblas-openmp-dev g++ make && npm run build:native`);
  process.exit(0);
}

if (process.env.UNROLL_SKIP_NATIVE === '1') giveUp('UNROLL_SKIP_NATIVE=1');
if (!openblas.find()) giveUp('OpenBLAS not found (Debian: libopenblas-openmp-dev)');
const cxx = spawnSync(process.env.CXX || 'c++', ['--version'], { stdio: 'ignore' });
if (cxx.status !== 0) giveUp(`no C++ compiler (${process.env.CXX || 'c++'})`);

// npm's own node-gyp; `nodedir` from the npm config (or Node's headers under the prefix) avoids a download.
const gyp = (() => {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  }
})();
const nodedir = process.env.npm_config_nodedir || path.resolve(path.dirname(process.execPath), '..');
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: root, stdio: optional ? 'pipe' : 'inherit', encoding: 'utf8' });
if (r.status !== 0) giveUp(`node-gyp failed${optional ? `:\n${(r.stderr || '').split('\n').slice(-15).join('\n')}` : ''}`);
console.log('@unroll/kernels-native: built build/Release/unroll_kernels.node');
