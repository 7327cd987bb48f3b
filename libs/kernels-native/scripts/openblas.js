// Where OpenBLAS is on this machine, for binding.gyp. Prefers the OpenMP build.
// UNROLL_OPENBLAS_DIR=<prefix> overrides (expects <prefix>/include and <prefix>/lib).
const fs = require('node:fs');
const path = require('node:path');

const multiarch = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
const flavours = ['openblas-openmp', 'openblas-pthread', 'openblas-serial'];

function candidates() {
  const custom = process.env.UNROLL_OPENBLAS_DIR;
  if (custom) return [{ inc: path.join(custom, 'include'), lib: path.join(custom, 'lib') }];
  return [
    ...flavours.map((f) => ({ inc: `/usr/include/${multiarch}/${f}`, lib: `/usr/lib/${multiarch}/${f}` })),
    { inc: '/usr/include/openblas', lib: `/usr/lib/${multiarch}` },
    { inc: '/usr/local/include', lib: '/usr/local/lib' },
    { inc: '/opt/homebrew/opt/openblas/include', lib: '/opt/homebrew/opt/openblas/lib' },
  ];
}

function find() {
  for (const c of candidates()) {
    if (fs.existsSync(path.join(c.inc, 'cblas.h')) && fs.readdirSync(c.lib, { withFileTypes: true }).some((e) => /^libopenblas\.(so|dylib)/.test(e.name))) return c;
  }
  return undefined;
}

function require_() {
  const c = find();
  if (!c) throw new Error('OpenBLAS not found (Debian: apt-get install libopenblas-openmp-dev; or set UNROLL_OPENBLAS_DIR)');
  return c;
}

module.exports = {
  find,
  includeDirs: () => [require_().inc],
  libs: () => {
    const c = require_();
    return [`-L${c.lib}`, '-lopenblas', `-Wl,-rpath,${c.lib}`];
  },
};
