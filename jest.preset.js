// Shared Jest settings for every project. ts-jest compiles each file on its own
// (isolatedModules); `npm run typecheck` does the whole-program type check once.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/../../tsconfig.base.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  // Generous: the suite runs real processes, Redis and gRPC on a 2-core machine.
  testTimeout: 30000,
};
