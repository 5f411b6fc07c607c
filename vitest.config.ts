import { defineConfig } from 'vitest/config';

// One test project per workspace package. Unit tests live next to the code; the suites that need the real
// control plane live in e2e/ and get longer time-outs there. Under CI a JSON report feeds the summary line.
export default defineConfig({
  test: {
    projects: [
      'packages/verifier',
      'packages/cli',
      'packages/testing',
      'packages/demo-common',
      'packages/demo-api',
      'packages/demo-store',
      'e2e',
    ],
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.tmp/vitest-report.json' }]] : ['default'],
  },
});
