const preset = require('../../jest.preset.js');
/** @type {import('jest').Config} */
module.exports = {
  ...preset,
  displayName: 'tests-deploy',
  rootDir: __dirname,
  testMatch: ['<rootDir>/**/*.spec.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/../../tsconfig.base.json' }] },
};
