import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'e2e',
    include: ['src/**/*.test.ts'],
    testTimeout: 120_000,
    // The first run may build kube-apiserver from source before the control plane can start.
    hookTimeout: 300_000,
    // Each file starts its own etcd + kube-apiserver; on 2 cores they must not overlap.
    fileParallelism: false,
  },
});
