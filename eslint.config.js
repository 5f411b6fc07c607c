import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/.tsbuild/**', '**/node_modules/**', '**/coverage/**'] },
  js.configs.recommended,
  // Type-aware: a promise nobody awaits (no-floating-promises, no-misused-promises) is how a verifier's failure turns
  // into an unhandled rejection, or an answer sent twice.
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // The build and test tsconfigs of each package: tests are in the latter only.
        project: [
          './packages/*/tsconfig.json',
          './packages/*/tsconfig.test.json',
          './e2e/tsconfig.json',
          './bench/tsconfig.json',
        ],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Async functions without await are how the attack catalogue and fakes implement async interfaces.
      '@typescript-eslint/require-await': 'off',
      'no-console': 'off',
      // node:test's test() returns a promise the runner itself awaits (the kit's node:test recipe).
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
    },
  },
  {
    // Tests read JSON bodies and use vitest's asymmetric matchers, which are typed any by design.
    files: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off', '@typescript-eslint/no-unsafe-member-access': 'off' },
  },
  // Config files belong to no tsconfig: linted without type information.
  { files: ['**/*.js', '**/vitest*.config.ts'], ...tseslint.configs.disableTypeChecked },
);
