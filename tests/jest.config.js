const preset = require('../jest.preset.js');
/** @type {import('jest').Config} */
module.exports = {
  ...preset,
  displayName: 'tests',
  rootDir: __dirname,
  testMatch: ['<rootDir>/**/*.spec.ts'],
  testTimeout: 60000,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/../tsconfig.base.json' }] },
};
