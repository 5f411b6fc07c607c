// vitest.config.ts: `test: { globalSetup: ['./global-setup.ts'] }`. One control plane per run, shared by all workers.
export { setup } from '@kube-service-auth/testing/global-setup';
