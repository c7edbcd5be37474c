/** Tests run from TypeScript sources through ts-jest (type errors fail the test file). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testTimeout: 60000,
  globalSetup: '<rootDir>/test/global-setup.js',
};
