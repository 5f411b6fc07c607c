import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployments, loadManifests, objectKey, REPO_ROOT } from '../deploy/manifests.js';
import {
  CLUSTER_NAME,
  describeNodes,
  dockerArgs,
  IMAGES,
  KIND_CONFIG,
  kindArgs,
  KUBE_CONTEXT,
  kubectl,
  MANIFEST_DIR,
  OFFLINE_BUILD_SCRIPT,
  offlineKindConfig,
  parseClusterList,
  parseDriverArgs,
  parseOfflineBuild,
  USAGE,
  type KubeConnection,
  type OfflineBuild,
} from './commands.js';
import { describeFailure, runChecked, succeeded, type RunOptions, type Runner } from './exec.js';
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
  /**
   * `--offline`: makes the kind and kubectl of {@link OFFLINE_BUILD_SCRIPT} the ones every later command and the suite
   * run (PATH), and keeps `docker build` on the classic builder, which needs no registry for its frontend.
   */
  useOfflineTools?: (build: OfflineBuild) => void;
}

const seconds = (ms: number) =>
  ms >= 60_000
    ? `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`
    : `${Math.round(ms / 1000)}s`;

/** The last `missing prerequisite: …` line of the offline build, or its last line. */
function offlineBuildProblem(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const missing = lines.filter((line) => line.includes('missing prerequisite:')).pop();
  return (missing ?? lines.pop() ?? '').replace(/^\[[^\]]*\]\s*/, '');
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
  const now = deps.wait?.now ?? Date.now;
  const stages: string[] = [];
  const timed = async <T>(name: string, step: () => Promise<T>): Promise<T> => {
    const start = now();
    try {
      return await step();
    } finally {
      stages.push(`${name} ${seconds(now() - start)}`);
    }
  };

  let nodeImage = args.nodeImage;
  let kindConfig = KIND_CONFIG;
  if (args.offline) {
    log(`--offline: building or reusing kind, the kind node image and the base images (${OFFLINE_BUILD_SCRIPT})`);
    const built = await timed('offline build', () => runner('bash', [OFFLINE_BUILD_SCRIPT], streamed));
    if (!succeeded(built)) {
      // Exit code 2: something the user must provide (root for apt-get, Go, npm); anything else is a build failure.
      if (built.code === 2 || built.error) {
        const problem = built.error ? describeFailure(built) : offlineBuildProblem(built.stderr);
        if (args.ifAvailable) {
          deps.print(`skipped: offline build: ${problem}`);
          return 0;
        }
        log(`cannot build the offline images: ${problem}. (--if-available turns this into a skip.)`);
        return 2;
      }
      log(`the offline build failed: ${describeFailure(built, 5)}`);
      return 1;
    }
    const build = parseOfflineBuild(built.stdout);
    deps.useOfflineTools?.(build);
    nodeImage = args.nodeImage ?? build.nodeImage;
    kindConfig = `${deps.kubeconfigPath}.kind-config.yaml`;
    await deps.writeFile(kindConfig, offlineKindConfig(readFileSync(join(REPO_ROOT, KIND_CONFIG), 'utf8'), build));
    log(`offline build ready: node image ${build.nodeImage}, kind ${build.kind}, kubectl ${build.kubectl}`);
  }

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
  const reused = parseClusterList((await runChecked(runner, 'kind', kindArgs.getClusters())).stdout).includes(
    CLUSTER_NAME,
  );
  const nodeFacts: string[] = [];
  try {
    if (reused) log(`reusing kind cluster ${CLUSTER_NAME}`);
    else {
      log(
        `creating kind cluster ${CLUSTER_NAME} from ${kindConfig}${nodeImage ? ` with node image ${nodeImage}` : ''}`,
      );
      await timed('create cluster', () =>
        runChecked(
          runner,
          'kind',
          kindArgs.create({
            name: CLUSTER_NAME,
            config: kindConfig,
            kubeconfig: deps.kubeconfigPath,
            nodeImage,
            wait: '180s',
          }),
          streamed,
        ),
      );
    }
    // Always rewritten: a reused cluster may have another API server port than when it was created.
    await deps.writeFile(
      deps.kubeconfigPath,
      (await runChecked(runner, 'kind', kindArgs.getKubeconfig(CLUSTER_NAME))).stdout,
    );
    const nodes = await runner('kubectl', kubectl.getNodes(connection));
    if (succeeded(nodes)) {
      try {
        nodeFacts.push(...describeNodes(nodes.stdout));
      } catch {
        // Only informative: a parse problem must not stop the run.
      }
    }
    nodeFacts.unshift(`node image: ${nodeImage ?? (reused ? "the reused cluster's" : "kind's default")}`);
    for (const line of nodeFacts) log(line);

    if (!args.skipBuild) {
      await timed('build and load images', async () => {
        for (const image of IMAGES) {
          if (interrupted()) return;
          log(`building ${image.tag} from ${image.dockerfile}`);
          await runChecked(runner, 'docker', dockerArgs.build(image), streamed);
          log(`loading ${image.tag} into the kind node`);
          await runChecked(runner, 'kind', kindArgs.load(CLUSTER_NAME, image.tag), streamed);
        }
      });
    }
    if (interrupted()) return 130;

    log(`applying ${MANIFEST_DIR}`);
    await runChecked(runner, 'kubectl', kubectl.apply(connection, MANIFEST_DIR), streamed);
    if (reused && !args.skipBuild) {
      // Same tag, new image: the pods only pick it up when they are recreated.
      for (const namespace of ['api', 'data-store'])
        await runChecked(runner, 'kubectl', kubectl.rolloutRestart(connection, namespace), streamed);
    }

    const expected = deployments(loadManifests()).map(objectKey);
    log(`waiting for ${expected.length} deployments: ${expected.join(', ')}`);
    const rolloutStart = now();
    try {
      await waitFor('the rollouts', {
        poll: async () => {
          const list = JSON.parse((await runChecked(runner, 'kubectl', kubectl.getDeployments(connection))).stdout) as {
            items: DeploymentLike[];
          };
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
    stages.push(`rollouts ${seconds(now() - rolloutStart)}`);
    if (interrupted()) return 130;

    log('running the shared end-to-end cases against the pods');
    return await timed('cases', () => deps.runSuite(args.vitestArgs, connection));
  } finally {
    await timed('clean-up', () => cleanUp());
    deps.print(
      [
        '',
        `pnpm e2e${args.offline ? ' --offline' : ''}:`,
        ...nodeFacts.map((line) => `  ${line}`),
        `  stages: ${stages.join(', ')}`,
      ].join('\n'),
    );
  }

  async function cleanUp(): Promise<void> {
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
