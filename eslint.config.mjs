// ESLint flat config. Type-aware rules for src/ and test/ (floating promises above all: a forgotten rejection on the
// hot path is a crash or a hang); Express may be imported only at the edge and in the `express` middleware kind,
// so the built-in kinds, config, stores, users and pool stay on node:http types (DESIGN.md, "open where users extend").
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Files allowed to import express: the edge (server.ts) and the express middleware kind. */
const EXPRESS_ALLOWED = ['src/server.ts', 'src/middleware/express/**'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**', 'bench/servers/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked.map((c) => ({ ...c, files: ['src/**/*.ts', 'test/**/*.ts'] })),
  {
    files: ['src/**/*.ts', 'test/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false, attributes: false } },
      ],
      // Unreliable with noUncheckedIndexedAccess: it calls `xs[i] ?? (xs[0] as T)` unnecessary and --fix breaks it.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Style only: an async function without await still returns a promise, which is often the point.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: EXPRESS_ALLOWED,
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'express',
              message: 'Express stays at the edge (src/server.ts) and in the express kind; type with node:http.',
              allowTypeImports: false,
            },
          ],
        },
      ],
    },
  },
  {
    files: ['bench/**/*.mjs', 'bench/**/*.js', 'bench/**/*.cjs', '*.js', '*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        performance: 'readonly',
        URL: 'readonly',
        module: 'writable',
        require: 'readonly',
        __dirname: 'readonly',
        fetch: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
      },
    },
    rules: { 'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }] },
  },
);
