import { ControlPlane, type ControlPlaneOptions } from './control-plane.js';
import { CONNECTION_ENV, type ControlPlaneConnection } from './test-cluster.js';

/** The key under which {@link setup} also `provide`s the {@link ControlPlaneConnection}, for vitest's `inject`. */
export const PROVIDE_KEY = 'kubeServiceAuthControlPlane';

/** The part of vitest's `TestProject` that {@link setup} uses (typed here so that the kit does not depend on vitest). */
export interface ProvidingProject {
  provide(key: string, value: unknown): void;
}

/**
 * Starts one control plane for a whole test run and stops it after the run: a vitest `globalSetup`. Workers connect
 * with `TestCluster.fromEnv()` (the connection is in {@link CONNECTION_ENV}, which workers inherit) or
 * `TestCluster.connect(inject(PROVIDE_KEY))`.
 *
 * ```ts
 * // global-setup.ts, named in vitest.config.ts as test.globalSetup
 * export { setup } from '@kube-service-auth/testing/global-setup';
 * ```
 * @returns the teardown, which vitest calls at the end of the run.
 */
export async function setup(
  project?: ProvidingProject,
  options: ControlPlaneOptions = {},
): Promise<() => Promise<void>> {
  const plane = await ControlPlane.start(options);
  const connection: ControlPlaneConnection = plane.connection;
  process.env[CONNECTION_ENV] = JSON.stringify(connection);
  project?.provide(PROVIDE_KEY, connection);
  return async () => {
    delete process.env[CONNECTION_ENV];
    await plane.stop();
  };
}

let teardown: (() => Promise<void>) | undefined;

/**
 * Same as {@link setup} for `node --test --test-global-setup=<file>` (Node ≥ 24): export `globalSetup` and
 * `globalTeardown` from the file. Test files run in child processes that inherit {@link CONNECTION_ENV}.
 */
export async function globalSetup(): Promise<void> {
  teardown = await setup();
}
/** Stops the control plane started by {@link globalSetup}. */
export async function globalTeardown(): Promise<void> {
  await teardown?.();
  teardown = undefined;
}
