// The whole suite: every project that has a jest.config.js.
/** @type {import('jest').Config} */
module.exports = {
  projects: ['<rootDir>/libs/*/jest.config.js', '<rootDir>/apps/*/jest.config.js', '<rootDir>/tests/jest.config.js'],
};
