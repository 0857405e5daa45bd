// Tests run on the pinned Node 24 (npm scripts put node_modules/.bin first on PATH).
// http-proxy-middleware 4 and httpxy ship only ES modules: ts-jest turns them into CommonJS for jest's loader,
// while the built product loads them natively through Node's require(esm).
/** One transform for .ts, .js and .mjs: CommonJS output for jest's loader. */
const tsJest = [
  'ts-jest',
  {
    tsconfig: {
      isolatedModules: true,
      allowJs: true,
      module: 'commonjs',
      moduleResolution: 'node10',
      ignoreDeprecations: '6.0',
      esModuleInterop: true,
      target: 'ES2023',
    },
  },
];
/** @type {import('jest').Config} */
const shared = {
  preset: 'ts-jest/presets/js-with-ts',
  testEnvironment: 'node',
  transform: {
    '^.+\\.[tj]sx?$': tsJest,
    '^.+\\.mjs$': tsJest,
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  transformIgnorePatterns: ['/node_modules/(?!(http-proxy-middleware|httpxy|is-plain-obj)/)'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
};
module.exports = {
  testTimeout: 20000,
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...shared, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...shared, displayName: 'hardening', testMatch: ['<rootDir>/test/hardening/**/*.test.ts'] },
    // Library behaviour Portico relies on that the libraries do not promise (test/contracts/support.ts).
    { ...shared, displayName: 'contracts', testMatch: ['<rootDir>/test/contracts/**/*.test.ts'] },
  ],
};
