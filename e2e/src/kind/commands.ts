/**
 * Names, paths and the argument lists of every `kind`, `docker` and `kubectl` command the e2e driver runs. Pure, so
 * that the exact command lines are unit-tested.
 */

export const CLUSTER_NAME = 'kube-service-auth';
/** The kubeconfig context kind creates for {@link CLUSTER_NAME}. */
export const KUBE_CONTEXT = `kind-${CLUSTER_NAME}`;
/** Relative to the repository root, like every path below. */
export const KIND_CONFIG = 'e2e/kind/kind-config.yaml';
export const MANIFEST_DIR = 'deploy/manifests';
export const KIND_VITEST_CONFIG = 'e2e/vitest.kind.config.ts';
/** Label on every object of the demo (`kubectl … -l`). */
export const PART_OF_SELECTOR = 'app.kubernetes.io/part-of=kube-service-auth';

/** An image the driver builds and loads into the kind node. */
export interface ImageSpec {
  /** The workspace package. */
  package: string;
  dockerfile: string;
  tag: string;
}

export const IMAGES: readonly ImageSpec[] = [
  { package: '@kube-service-auth/demo-api', dockerfile: 'packages/demo-api/Dockerfile', tag: 'kube-service-auth/demo-api:dev' },
  { package: '@kube-service-auth/demo-store', dockerfile: 'packages/demo-store/Dockerfile', tag: 'kube-service-auth/demo-store:dev' },
];

/** Where kubectl finds the cluster. */
export interface KubeConnection {
  kubeconfig: string;
  context: string;
}

export const kindArgs = {
  getClusters: (): string[] => ['get', 'clusters'],
  create: (options: { name: string; config: string; kubeconfig: string; nodeImage?: string; wait?: string }): string[] => [
    'create',
    'cluster',
    '--name',
    options.name,
    '--config',
    options.config,
    '--kubeconfig',
    options.kubeconfig,
    ...(options.nodeImage ? ['--image', options.nodeImage] : []),
    '--wait',
    options.wait ?? '120s',
  ],
  getKubeconfig: (name: string): string[] => ['get', 'kubeconfig', '--name', name],
  load: (name: string, image: string): string[] => ['load', 'docker-image', image, '--name', name],
  delete: (name: string): string[] => ['delete', 'cluster', '--name', name],
};

export const dockerArgs = {
  info: (): string[] => ['info', '--format', '{{.ServerVersion}}'],
  /** Built from the repository root: the Dockerfiles copy the workspace manifests and packages from there. */
  build: (image: ImageSpec, context = '.'): string[] => ['build', '--file', image.dockerfile, '--tag', image.tag, context],
};

/** `kubectl --kubeconfig … --context … <args>`: never the user's current context. */
export function kubectlArgs(connection: KubeConnection, ...args: string[]): string[] {
  return ['--kubeconfig', connection.kubeconfig, '--context', connection.context, ...args];
}

export const kubectl = {
  apply: (connection: KubeConnection, dir: string, options: { dryRun?: 'server' } = {}): string[] =>
    kubectlArgs(connection, 'apply', '--filename', dir, ...(options.dryRun ? [`--dry-run=${options.dryRun}`] : [])),
  getDeployments: (connection: KubeConnection): string[] =>
    kubectlArgs(connection, 'get', 'deployments', '--all-namespaces', '--selector', PART_OF_SELECTOR, '--output', 'json'),
  rolloutRestart: (connection: KubeConnection, namespace: string): string[] =>
    kubectlArgs(connection, 'rollout', 'restart', 'deployment', '--namespace', namespace, '--selector', PART_OF_SELECTOR),
  /** `localPort` 0 lets kubectl pick a free port (it prints it); the address is always loopback. */
  portForward: (connection: KubeConnection, options: { namespace: string; target: string; remotePort: number; localPort?: number }): string[] =>
    kubectlArgs(
      connection,
      'port-forward',
      '--namespace',
      options.namespace,
      '--address',
      '127.0.0.1',
      options.target,
      `${options.localPort ? options.localPort : ''}:${options.remotePort}`,
    ),
  exec: (connection: KubeConnection, options: { namespace: string; pod: string; container?: string; command: string[] }): string[] =>
    kubectlArgs(
      connection,
      'exec',
      '--namespace',
      options.namespace,
      options.pod,
      ...(options.container ? ['--container', options.container] : []),
      '--',
      ...options.command,
    ),
  logs: (connection: KubeConnection, options: { namespace: string; selector: string }): string[] =>
    kubectlArgs(connection, 'logs', '--namespace', options.namespace, '--selector', options.selector, '--all-containers', '--prefix', '--tail', '-1'),
  /** What to show when a rollout does not finish. */
  diagnose: (connection: KubeConnection): string[] => kubectlArgs(connection, 'get', 'pods,events', '--all-namespaces', '--output', 'wide'),
};

/** Cluster names from `kind get clusters` (which prints `No kind clusters found.` on stderr when there are none). */
export function parseClusterList(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('No kind clusters'));
}

/** Options of `pnpm e2e` (`node e2e/dist/kind/main.js`). */
export interface DriverArgs {
  /** Keep the cluster afterwards (for inspection). Default: delete it. */
  keep: boolean;
  /** Do not build and load the images (they are already in the node). */
  skipBuild: boolean;
  /** Exit 0 with a `skipped:` line instead of failing when a prerequisite is missing. */
  ifAvailable: boolean;
  help: boolean;
  /** Node image for a new cluster (`--image` of kind create); also `KIND_NODE_IMAGE`. */
  nodeImage: string | undefined;
  /** Everything else, passed to vitest (e.g. `-t revocation`). */
  vitestArgs: string[];
}

export const USAGE = `usage: pnpm e2e [--keep] [--skip-build] [--if-available] [--node-image IMAGE] [-- VITEST ARGS...]

Creates (or reuses) the kind cluster "${CLUSTER_NAME}" from ${KIND_CONFIG}, builds and loads the demo images, applies
${MANIFEST_DIR}, waits for the rollouts and runs the shared end-to-end cases against the pods.

  --keep            keep the cluster afterwards (otherwise it is deleted)
  --skip-build      do not build and load the images (they are already in the node)
  --if-available    exit 0 with "skipped: ..." when docker, kind, kubectl or a Docker engine is missing
  --node-image IMG  kind node image for a new cluster (default: kind's; also KIND_NODE_IMAGE)
  Other arguments are passed to vitest.`;

/** Parses the driver's arguments; unknown ones go to vitest. */
export function parseDriverArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): DriverArgs {
  const args: DriverArgs = {
    keep: false,
    skipBuild: false,
    ifAvailable: false,
    help: false,
    nodeImage: env.KIND_NODE_IMAGE || undefined,
    vitestArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      args.vitestArgs.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--keep') args.keep = true;
    else if (arg === '--skip-build') args.skipBuild = true;
    else if (arg === '--if-available') args.ifAvailable = true;
    else if (arg === '--help' || arg === '-h') args.help = true;
    else if (arg === '--node-image' || arg.startsWith('--node-image=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (!value) throw new Error('--node-image needs a value, e.g. --node-image kindest/node:v1.34.0');
      args.nodeImage = value;
    } else args.vitestArgs.push(arg);
  }
  return args;
}
