/**
 * `pnpm e2e`: the article's system on a real cluster. Checks for docker, kind, kubectl and a Docker engine; creates
 * (or reuses) the kind cluster; builds the two images and loads them into the node; applies deploy/manifests; waits
 * for the rollouts; runs the shared end-to-end cases (e2e/src/kind/demo.kind.ts) against the pods; deletes the
 * cluster unless `--keep`. With `--offline`, kind, the node image and the base images are first built on this machine
 * (e2e/scripts/build-kind-offline.sh). See {@link runDriver} and `pnpm e2e --help`.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { REPO_ROOT } from '../deploy/manifests.js';
import { CLUSTER_NAME, KIND_VITEST_CONFIG, type KubeConnection } from './commands.js';
import { runDriver } from './driver.js';
import { run } from './exec.js';

const log = (line: string) => process.stderr.write(`[e2e] ${line}\n`);

/** The kind suite, in a child vitest that inherits the terminal. */
function runSuite(vitestArgs: string[], connection: KubeConnection): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('pnpm', ['exec', 'vitest', 'run', '--config', KIND_VITEST_CONFIG, ...vitestArgs], {
      cwd: REPO_ROOT,
      stdio: 'inherit',
      env: { ...process.env, KSA_KIND_KUBECONFIG: connection.kubeconfig, KSA_KIND_CONTEXT: connection.context },
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 130 : 1)));
  });
}

// Ctrl-C reaches the children too; the driver then skips the remaining steps but still deletes the cluster.
let interrupted = false;
const onSignal = () => {
  interrupted = true;
  log('interrupted; cleaning up');
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

runDriver(process.argv.slice(2), {
  runner: run,
  runSuite,
  writeFile: (path, content) => writeFile(path, content, { mode: 0o600 }),
  kubeconfigPath: join(tmpdir(), `${CLUSTER_NAME}.kubeconfig`),
  log,
  print: (line) => console.log(line),
  stream: (chunk) => process.stderr.write(chunk),
  env: process.env,
  interrupted: () => interrupted,
  useOfflineTools: (build) => {
    // Every later child (kind, kubectl, docker, the suite's kubectl exec/port-forward) inherits this environment.
    process.env.PATH = [dirname(build.kind), dirname(build.kubectl), process.env.PATH].filter(Boolean).join(delimiter);
    process.env.DOCKER_BUILDKIT = '0';
  },
})
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      log(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  )
  .finally(() => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  });
