import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'testing',
    include: ['src/**/*.test.ts', 'examples/**/*.test.ts'],
    // One control plane for the whole project, started by the kit's own global setup, as the README recommends.
    globalSetup: ['./examples/global-setup.ts'],
    testTimeout: 60_000,
    // The first run may build kube-apiserver from source before the control plane can start.
    hookTimeout: 300_000,
  },
});
