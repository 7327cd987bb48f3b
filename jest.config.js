// The whole suite: every project that has a jest.config.js.
/** @type {import('jest').Config} */
module.exports = {
  // Generous: the suite runs real processes, Redis and gRPC on a 2-core machine.
  testTimeout: 30000,
  projects: ['<rootDir>/libs/*/jest.config.js', '<rootDir>/apps/*/jest.config.js', '<rootDir>/tests/jest.config.js', '<rootDir>/tests/deploy/jest.config.js'],
};
