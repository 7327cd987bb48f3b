const preset = require('../jest.preset.js');
/** @type {import('jest').Config} */
module.exports = {
  ...preset,
  displayName: 'tests',
  rootDir: __dirname,
  testMatch: ['<rootDir>/**/*.spec.ts'],
  // tests/deploy is its own project (tests/deploy/jest.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/deploy/'],
  testTimeout: 60000,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/../tsconfig.base.json' }] },
};
