/** Tests run from TypeScript sources through ts-jest (transpile only: `npm test` type-checks them first with tsconfig.test.json). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testTimeout: 60000,
  globalSetup: '<rootDir>/test/global-setup.js',
};
