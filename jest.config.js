// Two tiers: unit specs beside the code, and e2e tests under test/ that boot real
// Postgres, Redis and HTTP servers. `npm test` runs both.
const shared = {
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest'] },
  transformIgnorePatterns: [
    '/node_modules/(?!(@nestjs|file-type|strtok3|token-types|@tokenizer|uint8array-extras|eventsource-parser)/)',
  ],
  moduleNameMapper: {
    '^@ratchet/(config|core|store|providers|queue|events|tools|mcp|telemetry)$':
      '<rootDir>/libs/$1/src/index.ts',
    '^@ratchet/(api|worker)$': '<rootDir>/apps/$1/src/index.ts',
    '^@ratchet/mcp/allow-list$': '<rootDir>/libs/mcp/src/mcp-allow-list.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
module.exports = {
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/support/e2e-timeout.ts'],
    },
  ],
};
