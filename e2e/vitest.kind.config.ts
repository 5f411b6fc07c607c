import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The kind end-to-end suite, run by `pnpm e2e` (e2e/src/kind/main.ts) once the cluster is up. Its files end in
// `.kind.ts`, so the e2e project of `pnpm test` (src/**/*.test.ts) never selects them.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['src/**/*.kind.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
