import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The kind end-to-end suite, run by `pnpm e2e` (e2e/src/kind/main.ts) once the cluster is up. Its files end in
// `.kind.ts`, so the e2e project of `pnpm test` (src/**/*.test.ts) never selects them. The kubelet cases include a
// wait of up to 10 minutes for the kubelet's token rotation (it rotates at 80 % of the 600 s minimum lifetime).
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['src/**/*.kind.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    // Under CI a JSON report feeds the summary line of .ci/run, next to the one of `pnpm test`.
    reporters: process.env.CI
      ? [
          'default',
          ['json', { outputFile: fileURLToPath(new URL('../.tmp/vitest-kind-report.json', import.meta.url)) }],
        ]
      : ['default'],
  },
});
