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
/** Builds (or reuses from ~/.cache/kube-service-auth) kind, its node image and every image, with no registry. */
export const OFFLINE_BUILD_SCRIPT = 'e2e/scripts/build-kind-offline.sh';
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
  {
    package: '@kube-service-auth/demo-api',
    dockerfile: 'packages/demo-api/Dockerfile',
    tag: 'kube-service-auth/demo-api:dev',
  },
  {
    package: '@kube-service-auth/demo-store',
    dockerfile: 'packages/demo-store/Dockerfile',
    tag: 'kube-service-auth/demo-store:dev',
  },
];

/** Where kubectl finds the cluster. */
export interface KubeConnection {
  kubeconfig: string;
  context: string;
}

export const kindArgs = {
  getClusters: (): string[] => ['get', 'clusters'],
  create: (options: {
    name: string;
    config: string;
    kubeconfig: string;
    nodeImage?: string;
    wait?: string;
  }): string[] => [
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
  build: (image: ImageSpec, context = '.'): string[] => [
    'build',
    '--file',
    image.dockerfile,
    '--tag',
    image.tag,
    context,
  ],
};

/** `kubectl --kubeconfig … --context … <args>`: never the user's current context. */
export function kubectlArgs(connection: KubeConnection, ...args: string[]): string[] {
  return ['--kubeconfig', connection.kubeconfig, '--context', connection.context, ...args];
}

export const kubectl = {
  apply: (connection: KubeConnection, dir: string, options: { dryRun?: 'server' } = {}): string[] =>
    kubectlArgs(connection, 'apply', '--filename', dir, ...(options.dryRun ? [`--dry-run=${options.dryRun}`] : [])),
  getDeployments: (connection: KubeConnection): string[] =>
    kubectlArgs(
      connection,
      'get',
      'deployments',
      '--all-namespaces',
      '--selector',
      PART_OF_SELECTOR,
      '--output',
      'json',
    ),
  rolloutRestart: (connection: KubeConnection, namespace: string): string[] =>
    kubectlArgs(
      connection,
      'rollout',
      'restart',
      'deployment',
      '--namespace',
      namespace,
      '--selector',
      PART_OF_SELECTOR,
    ),
  /** `localPort` 0 lets kubectl pick a free port (it prints it); the address is always loopback. */
  portForward: (
    connection: KubeConnection,
    options: { namespace: string; target: string; remotePort: number; localPort?: number },
  ): string[] =>
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
  exec: (
    connection: KubeConnection,
    options: { namespace: string; pod: string; container?: string; command: string[] },
  ): string[] =>
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
    kubectlArgs(
      connection,
      'logs',
      '--namespace',
      options.namespace,
      '--selector',
      options.selector,
      '--all-containers',
      '--prefix',
      '--tail',
      '-1',
    ),
  getNodes: (connection: KubeConnection): string[] => kubectlArgs(connection, 'get', 'nodes', '--output', 'json'),
  /** What to show when a rollout does not finish. */
  diagnose: (connection: KubeConnection): string[] =>
    kubectlArgs(connection, 'get', 'pods,events', '--all-namespaces', '--output', 'wide'),
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
  /** Build kind, the node image and the base images locally ({@link OFFLINE_BUILD_SCRIPT}) and use them. */
  offline: boolean;
  /** Node image for a new cluster (`--image` of kind create); also `KIND_NODE_IMAGE`. */
  nodeImage: string | undefined;
  /** Everything else, passed to vitest (e.g. `-t revocation`). */
  vitestArgs: string[];
}

export const USAGE = `usage: pnpm e2e [--offline] [--keep] [--skip-build] [--if-available] [--node-image IMAGE] [-- VITEST ARGS...]

Creates (or reuses) the kind cluster "${CLUSTER_NAME}" from ${KIND_CONFIG}, builds and loads the demo images, applies
${MANIFEST_DIR}, waits for the rollouts and runs the shared end-to-end cases against the pods.

  --offline         no image registry needed: build kind, a kind node image (Kubernetes, containerd and the
                    control-plane images from source) and a stand-in for the Dockerfiles' base image on this
                    machine with ${OFFLINE_BUILD_SCRIPT}, cached in ~/.cache/kube-service-auth; starts a
                    Docker engine when none answers (as root: installs Debian's docker.io)
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
    offline: false,
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
    else if (arg === '--offline') args.offline = true;
    else if (arg === '--help' || arg === '-h') args.help = true;
    else if (arg === '--node-image' || arg.startsWith('--node-image=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (!value) throw new Error('--node-image needs a value, e.g. --node-image kindest/node:v1.34.0');
      args.nodeImage = value;
    } else args.vitestArgs.push(arg);
  }
  return args;
}

/** What {@link OFFLINE_BUILD_SCRIPT} prints on its last lines (`key=value`). */
export interface OfflineBuild {
  /** Absolute paths of the kind and kubectl binaries it built. */
  kind: string;
  kubectl: string;
  nodeImage: string;
  /** The etcd image tag it built, for kubeadm's `etcd.local.imageTag`. */
  etcdImageTag: string;
}

/** Parses the `key=value` lines of {@link OFFLINE_BUILD_SCRIPT}; throws when one is missing. */
export function parseOfflineBuild(stdout: string): OfflineBuild {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^([a-z_]+)=(.+)$/.exec(line.trim());
    if (match) values.set(match[1] as string, match[2] as string);
  }
  const get = (key: string) => {
    const value = values.get(key);
    if (!value) throw new Error(`${OFFLINE_BUILD_SCRIPT} printed no ${key}=… line`);
    return value;
  };
  return {
    kind: get('kind'),
    kubectl: get('kubectl'),
    nodeImage: get('node_image'),
    etcdImageTag: get('etcd_image_tag'),
  };
}

/**
 * The kind config of an offline run: {@link KIND_CONFIG} plus a kubeadm patch that names the etcd image actually
 * built (kubeadm would otherwise ask for the etcd version it pins, which was not built).
 */
export function offlineKindConfig(baseConfig: string, build: Pick<OfflineBuild, 'etcdImageTag'>): string {
  const patch = ['kind: ClusterConfiguration', 'etcd:', '  local:', `    imageTag: ${build.etcdImageTag}`].join('\n');
  return `${baseConfig.trimEnd()}\n# Added by pnpm e2e --offline: the etcd image built locally.\nkubeadmConfigPatches:\n  - |\n${patch
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n')}\n`;
}

/** The node facts `pnpm e2e` prints: from `kubectl get nodes -o json`. */
export function describeNodes(json: string): string[] {
  const list = JSON.parse(json) as {
    items: Array<{
      metadata?: { name?: string };
      status?: {
        nodeInfo?: {
          kubeletVersion?: string;
          containerRuntimeVersion?: string;
          osImage?: string;
          kernelVersion?: string;
        };
      };
    }>;
  };
  return list.items.map((node) => {
    const info = node.status?.nodeInfo ?? {};
    return `${node.metadata?.name ?? '?'}: Kubernetes ${info.kubeletVersion ?? '?'}, ${info.containerRuntimeVersion ?? '?'}, ${info.osImage ?? '?'}, kernel ${info.kernelVersion ?? '?'}`;
  });
}
