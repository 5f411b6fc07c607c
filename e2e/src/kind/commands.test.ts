import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { imagesOf, loadManifests, REPO_ROOT } from '../deploy/manifests.js';
import {
  CLUSTER_NAME,
  dockerArgs,
  IMAGES,
  KIND_CONFIG,
  KIND_VITEST_CONFIG,
  kindArgs,
  KUBE_CONTEXT,
  kubectl,
  MANIFEST_DIR,
  describeNodes,
  offlineKindConfig,
  parseClusterList,
  parseDriverArgs,
  parseOfflineBuild,
} from './commands.js';

const connection = { kubeconfig: '/tmp/k.kubeconfig', context: KUBE_CONTEXT };

describe('kind arguments', () => {
  it('creates the named cluster from the config into its own kubeconfig, waiting for the control plane', () => {
    expect(kindArgs.create({ name: CLUSTER_NAME, config: KIND_CONFIG, kubeconfig: '/tmp/k' })).toEqual([
      'create',
      'cluster',
      '--name',
      'kube-service-auth',
      '--config',
      'e2e/kind/kind-config.yaml',
      '--kubeconfig',
      '/tmp/k',
      '--wait',
      '120s',
    ]);
    expect(
      kindArgs.create({ name: 'c', config: 'x.yaml', kubeconfig: '/k', nodeImage: 'kindest/node:v1.34.0', wait: '5m' }),
    ).toEqual([
      'create',
      'cluster',
      '--name',
      'c',
      '--config',
      'x.yaml',
      '--kubeconfig',
      '/k',
      '--image',
      'kindest/node:v1.34.0',
      '--wait',
      '5m',
    ]);
  });

  it('loads an image into the named cluster, reads its kubeconfig and deletes it', () => {
    expect(kindArgs.load('c', 'kube-service-auth/demo-api:dev')).toEqual([
      'load',
      'docker-image',
      'kube-service-auth/demo-api:dev',
      '--name',
      'c',
    ]);
    expect(kindArgs.getKubeconfig('c')).toEqual(['get', 'kubeconfig', '--name', 'c']);
    expect(kindArgs.delete('c')).toEqual(['delete', 'cluster', '--name', 'c']);
    expect(KUBE_CONTEXT).toBe('kind-kube-service-auth');
  });

  it('reads `kind get clusters`, including its "none" message', () => {
    expect(parseClusterList('kind\nkube-service-auth\n')).toEqual(['kind', 'kube-service-auth']);
    expect(parseClusterList('')).toEqual([]);
    expect(parseClusterList('No kind clusters found.\n')).toEqual([]);
  });
});

describe('docker arguments', () => {
  it('builds each image from the repository root with its Dockerfile', () => {
    expect(dockerArgs.build(IMAGES[0]!)).toEqual([
      'build',
      '--file',
      'packages/demo-api/Dockerfile',
      '--tag',
      'kube-service-auth/demo-api:dev',
      '.',
    ]);
    expect(dockerArgs.info()).toEqual(['info', '--format', '{{.ServerVersion}}']);
  });

  it('every image the manifests use is built and loaded, and every Dockerfile exists', () => {
    expect(imagesOf(loadManifests())).toEqual(IMAGES.map((i) => i.tag).sort());
    for (const image of IMAGES) expect(existsSync(join(REPO_ROOT, image.dockerfile)), image.dockerfile).toBe(true);
  });
});

describe('kubectl arguments', () => {
  it("always names the kubeconfig and the context, never the user's current one", () => {
    for (const args of [
      kubectl.apply(connection, MANIFEST_DIR),
      kubectl.getDeployments(connection),
      kubectl.rolloutRestart(connection, 'api'),
      kubectl.portForward(connection, { namespace: 'api', target: 'svc/api', remotePort: 80 }),
      kubectl.exec(connection, { namespace: 'api', pod: 'p', command: ['cat', '/x'] }),
      kubectl.logs(connection, { namespace: 'api', selector: 'app=api' }),
      kubectl.diagnose(connection),
    ]) {
      expect(args.slice(0, 4)).toEqual(['--kubeconfig', '/tmp/k.kubeconfig', '--context', 'kind-kube-service-auth']);
    }
  });

  it('applies the manifest directory, optionally as a server-side dry run', () => {
    expect(kubectl.apply(connection, MANIFEST_DIR).slice(4)).toEqual(['apply', '--filename', 'deploy/manifests']);
    expect(kubectl.apply(connection, MANIFEST_DIR, { dryRun: 'server' }).slice(4)).toEqual([
      'apply',
      '--filename',
      'deploy/manifests',
      '--dry-run=server',
    ]);
  });

  it('port-forwards on loopback, to a random or a fixed local port', () => {
    expect(
      kubectl.portForward(connection, { namespace: 'data-store', target: 'svc/app', remotePort: 80 }).slice(4),
    ).toEqual(['port-forward', '--namespace', 'data-store', '--address', '127.0.0.1', 'svc/app', ':80']);
    expect(
      kubectl.portForward(connection, { namespace: 'api', target: 'svc/api', remotePort: 80, localPort: 40123 }).at(-1),
    ).toBe('40123:80');
  });

  it('execs a command in one container, after --', () => {
    expect(
      kubectl
        .exec(connection, {
          namespace: 'api',
          pod: 'api-1',
          container: 'api',
          command: ['cat', '/var/run/secrets/tokens/api-token'],
        })
        .slice(4),
    ).toEqual([
      'exec',
      '--namespace',
      'api',
      'api-1',
      '--container',
      'api',
      '--',
      'cat',
      '/var/run/secrets/tokens/api-token',
    ]);
  });

  it('restarts and lists only the demo deployments', () => {
    expect(kubectl.rolloutRestart(connection, 'api').slice(4)).toEqual([
      'rollout',
      'restart',
      'deployment',
      '--namespace',
      'api',
      '--selector',
      'app.kubernetes.io/part-of=kube-service-auth',
    ]);
    expect(kubectl.getDeployments(connection)).toContain('--all-namespaces');
  });
});

describe('driver arguments (pnpm e2e …)', () => {
  it('defaults: delete the cluster, build the images, fail when a tool is missing', () => {
    expect(parseDriverArgs([])).toEqual({
      keep: false,
      skipBuild: false,
      ifAvailable: false,
      help: false,
      offline: false,
      nodeImage: undefined,
      vitestArgs: [],
    });
  });

  it('reads --keep, --skip-build, --if-available and --node-image, and passes the rest to vitest', () => {
    expect(
      parseDriverArgs([
        '--keep',
        '--node-image',
        'kindest/node:v1.34.0',
        '-t',
        'revocation',
        '--skip-build',
        '--if-available',
      ]),
    ).toEqual({
      keep: true,
      skipBuild: true,
      ifAvailable: true,
      help: false,
      offline: false,
      nodeImage: 'kindest/node:v1.34.0',
      vitestArgs: ['-t', 'revocation'],
    });
    expect(parseDriverArgs(['--node-image=img', '--', '--keep']).vitestArgs).toEqual(['--keep']);
    expect(parseDriverArgs([], { KIND_NODE_IMAGE: 'from-env' }).nodeImage).toBe('from-env');
  });

  it('reads --offline', () => {
    expect(parseDriverArgs(['--offline', '--keep'])).toMatchObject({ offline: true, keep: true, vitestArgs: [] });
  });

  it('refuses --node-image without a value', () => {
    expect(() => parseDriverArgs(['--node-image'])).toThrow(/--node-image needs a value/);
  });

  it('the package.json script runs the compiled driver, and the kind vitest config selects only *.kind.ts', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.e2e).toMatch(/node e2e\/dist\/kind\/main\.js$/);
    const config = readFileSync(join(REPO_ROOT, KIND_VITEST_CONFIG), 'utf8');
    expect(config).toContain("include: ['src/**/*.kind.ts']");
  });
});

describe('kind config', () => {
  const config = parse(readFileSync(join(REPO_ROOT, KIND_CONFIG), 'utf8')) as {
    kind: string;
    apiVersion: string;
    networking?: { apiServerAddress?: string };
    nodes: Array<{
      role: string;
      extraPortMappings?: Array<{ containerPort: number; hostPort: number; listenAddress?: string; protocol?: string }>;
    }>;
  };

  it('is a kind v1alpha4 Cluster with one control-plane node and a loopback API server', () => {
    expect(config.kind).toBe('Cluster');
    expect(config.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    expect(config.nodes.map((n) => n.role)).toEqual(['control-plane']);
    expect(config.networking?.apiServerAddress).toBe('127.0.0.1');
  });

  it('maps exactly the API NodePorts of the manifests, on loopback only', () => {
    const nodePorts = loadManifests()
      .filter((e) => e.object.kind === 'Service' && (e.object as V1Service).spec?.type === 'NodePort')
      .flatMap((e) => ((e.object as V1Service).spec?.ports ?? []).map((p) => p.nodePort))
      .sort();
    const mappings = config.nodes[0]?.extraPortMappings ?? [];
    expect(mappings.map((m) => m.containerPort).sort()).toEqual(nodePorts);
    for (const m of mappings)
      expect(m).toMatchObject({ hostPort: m.containerPort, listenAddress: '127.0.0.1', protocol: 'TCP' });
  });
});

describe('offline build (pnpm e2e --offline)', () => {
  const stdout =
    'noise\nkind=/c/bin/kind-v0.33.0/kind\nkubectl=/c/kube/v1.36.3-etcd-v3.6.16/kubectl\nnode_image=kube-service-auth/kind-node:v1.36.3-abc\netcd_image_tag=v3.6.16\n';

  it('reads what the build script prints on its last lines', () => {
    expect(parseOfflineBuild(stdout)).toEqual({
      kind: '/c/bin/kind-v0.33.0/kind',
      kubectl: '/c/kube/v1.36.3-etcd-v3.6.16/kubectl',
      nodeImage: 'kube-service-auth/kind-node:v1.36.3-abc',
      etcdImageTag: 'v3.6.16',
    });
  });

  it('refuses output without one of the lines', () => {
    expect(() => parseOfflineBuild('kind=/k\nkubectl=/c\n')).toThrow(/printed no node_image=/);
  });

  it('the offline kind config is the checked-in one plus a kubeadm patch naming the etcd image that was built', () => {
    const base = readFileSync(join(REPO_ROOT, KIND_CONFIG), 'utf8');
    const offline = parse(offlineKindConfig(base, { etcdImageTag: 'v3.6.16' })) as Record<string, unknown> & {
      kubeadmConfigPatches: string[];
    };
    const { kubeadmConfigPatches, ...rest } = offline;
    expect(rest).toEqual(parse(base));
    expect(kubeadmConfigPatches).toHaveLength(1);
    expect(parse(kubeadmConfigPatches[0] as string)).toEqual({
      kind: 'ClusterConfiguration',
      etcd: { local: { imageTag: 'v3.6.16' } },
    });
  });

  it('describes each node by its kubelet and container runtime versions', () => {
    const json = JSON.stringify({
      items: [
        {
          metadata: { name: 'kube-service-auth-control-plane' },
          status: {
            nodeInfo: {
              kubeletVersion: 'v1.36.3',
              containerRuntimeVersion: 'containerd://2.4.2',
              osImage: 'Debian GNU/Linux 12 (bookworm)',
              kernelVersion: '6.18.0',
            },
          },
        },
      ],
    });
    expect(describeNodes(json)).toEqual([
      'kube-service-auth-control-plane: Kubernetes v1.36.3, containerd://2.4.2, Debian GNU/Linux 12 (bookworm), kernel 6.18.0',
    ]);
  });

  it('the build script exists and is what the README documents', () => {
    expect(existsSync(join(REPO_ROOT, 'e2e/scripts/build-kind-offline.sh'))).toBe(true);
  });
});
