import { deployments, loadManifests, objectKey, REPO_ROOT } from '../deploy/manifests.js';
import {
  CLUSTER_NAME,
  dockerArgs,
  IMAGES,
  KIND_CONFIG,
  kindArgs,
  KUBE_CONTEXT,
  kubectl,
  MANIFEST_DIR,
  parseClusterList,
  parseDriverArgs,
  USAGE,
  type KubeConnection,
} from './commands.js';
import { runChecked, type RunOptions, type Runner } from './exec.js';
import { checkTools, formatToolReport, skipReason } from './tools.js';
import { rolloutState, waitFor, type DeploymentLike, type WaitOptions } from './wait.js';

/** Everything the driver does to the outside world, injected so that its sequence is unit-tested with fakes. */
export interface DriverDeps {
  runner: Runner;
  /** Runs the kind vitest suite against the cluster; resolves with its exit code. */
  runSuite: (vitestArgs: string[], connection: KubeConnection) => Promise<number>;
  writeFile: (path: string, content: string) => Promise<void>;
  /** Where the kubeconfig of the cluster is written. */
  kubeconfigPath: string;
  /** Progress and diagnostics (stderr). */
  log: (line: string) => void;
  /** Results meant for the user's stdout (`skipped: …`, usage). */
  print: (line: string) => void;
  /** Output of long steps, as it comes. */
  stream?: (chunk: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Clock and sleep of the rollout wait. */
  wait?: Pick<WaitOptions<unknown>, 'now' | 'sleep'>;
  rolloutTimeoutMs?: number;
  /** Set when the user interrupts (SIGINT): later steps are skipped, clean-up still runs. */
  interrupted?: () => boolean;
}

/**
 * `pnpm e2e`: check the tools; create or reuse the cluster; build and load the images; apply the manifests (and
 * restart the deployments of a reused cluster, whose `:dev` images changed under the same tag); wait for the rollouts;
 * run the suite; delete the cluster unless `--keep`, whatever happened before.
 * @returns the exit code: the suite's, 2 when a prerequisite is missing, 130 when interrupted.
 */
export async function runDriver(argv: readonly string[], deps: DriverDeps): Promise<number> {
  const args = parseDriverArgs(argv, deps.env ?? {});
  if (args.help) {
    deps.print(USAGE);
    return 0;
  }
  const { runner, log } = deps;
  const interrupted = deps.interrupted ?? (() => false);
  const streamed: RunOptions = { cwd: REPO_ROOT, ...(deps.stream ? { onOutput: deps.stream } : {}) };

  const checks = await checkTools(runner);
  const reason = skipReason(checks);
  if (reason) {
    log(formatToolReport(checks));
    if (args.ifAvailable) {
      deps.print(`skipped: ${reason}`);
      return 0;
    }
    log(`cannot run the kind end-to-end tests: ${reason}. (--if-available turns this into a skip.)`);
    return 2;
  }
  log(formatToolReport(checks));

  const connection: KubeConnection = { kubeconfig: deps.kubeconfigPath, context: KUBE_CONTEXT };
  const reused = parseClusterList((await runChecked(runner, 'kind', kindArgs.getClusters())).stdout).includes(CLUSTER_NAME);
  try {
    if (reused) log(`reusing kind cluster ${CLUSTER_NAME}`);
    else {
      log(`creating kind cluster ${CLUSTER_NAME} from ${KIND_CONFIG}`);
      await runChecked(
        runner,
        'kind',
        kindArgs.create({ name: CLUSTER_NAME, config: KIND_CONFIG, kubeconfig: deps.kubeconfigPath, nodeImage: args.nodeImage, wait: '180s' }),
        streamed,
      );
    }
    // Always rewritten: a reused cluster may have another API server port than when it was created.
    await deps.writeFile(deps.kubeconfigPath, (await runChecked(runner, 'kind', kindArgs.getKubeconfig(CLUSTER_NAME))).stdout);

    if (!args.skipBuild) {
      for (const image of IMAGES) {
        if (interrupted()) return 130;
        log(`building ${image.tag} from ${image.dockerfile}`);
        await runChecked(runner, 'docker', dockerArgs.build(image), streamed);
        log(`loading ${image.tag} into the kind node`);
        await runChecked(runner, 'kind', kindArgs.load(CLUSTER_NAME, image.tag), streamed);
      }
    }
    if (interrupted()) return 130;

    log(`applying ${MANIFEST_DIR}`);
    await runChecked(runner, 'kubectl', kubectl.apply(connection, MANIFEST_DIR), streamed);
    if (reused && !args.skipBuild) {
      // Same tag, new image: the pods only pick it up when they are recreated.
      for (const namespace of ['api', 'data-store']) await runChecked(runner, 'kubectl', kubectl.rolloutRestart(connection, namespace), streamed);
    }

    const expected = deployments(loadManifests()).map(objectKey);
    log(`waiting for ${expected.length} deployments: ${expected.join(', ')}`);
    try {
      await waitFor('the rollouts', {
        poll: async () => {
          const list = JSON.parse((await runChecked(runner, 'kubectl', kubectl.getDeployments(connection))).stdout) as { items: DeploymentLike[] };
          return rolloutState(list, expected);
        },
        done: (state) => state.done,
        failed: (state) => (state.failed.length ? state.failed.join('; ') : undefined),
        describe: (state) => state.pending.join('; '),
        onProgress: (line) => log(`  ${line}`),
        timeoutMs: deps.rolloutTimeoutMs ?? 300_000,
        intervalMs: 3000,
        ...deps.wait,
      });
    } catch (err) {
      const diagnosis = await runner('kubectl', kubectl.diagnose(connection));
      log(diagnosis.stdout + diagnosis.stderr);
      throw err;
    }
    if (interrupted()) return 130;

    log('running the shared end-to-end cases against the pods');
    return await deps.runSuite(args.vitestArgs, connection);
  } finally {
    if (args.keep) {
      log(`kept the cluster. Try:
  export KUBECONFIG=${deps.kubeconfigPath}
  kubectl get pods --all-namespaces
  curl http://127.0.0.1:30080/    # variant 2 API (NodePort)
  curl http://127.0.0.1:30081/    # variant 1 API
  kind delete cluster --name ${CLUSTER_NAME}    # when done`);
    } else {
      log(`deleting kind cluster ${CLUSTER_NAME} (--keep keeps it)`);
      const deleted = await runner('kind', kindArgs.delete(CLUSTER_NAME), streamed);
      if (deleted.code !== 0) log(`kind delete cluster failed: ${deleted.stderr.trim()}`);
    }
  }
}
