const preset = require('../../jest.preset.js');
/** @type {import('jest').Config} */
module.exports = { ...preset, displayName: '@unroll/kernels-native', rootDir: __dirname };
