import { describe, expect, it } from 'vitest';
import { deployments, loadManifests, objectKey } from '../deploy/manifests.js';
import { runDriver, type DriverDeps } from './driver.js';
import type { OfflineBuild } from './commands.js';
import type { RunResult } from './exec.js';

const EXPECTED = deployments(loadManifests());

/** Deployments as `kubectl get deployments -o json` lists them, all rolled out unless named in `pending`. */
function deploymentList(pending: string[] = []) {
  return JSON.stringify({
    items: EXPECTED.map((d) => {
      const ready = !pending.includes(objectKey(d));
      return {
        metadata: { name: d.metadata?.name, namespace: d.metadata?.namespace, generation: 1 },
        spec: { replicas: 1 },
        status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: ready ? 1 : 0 },
      };
    }),
  });
}

interface Scenario {
  clusters?: string;
  missing?: string[];
  fail?: string;
  /** Successive answers of `kubectl get deployments`; the last repeats. */
  rollouts?: string[];
  suiteCode?: number;
  /** What `bash e2e/scripts/build-kind-offline.sh` answers. */
  offline?: { code: number; stdout?: string; stderr?: string };
}

/** A driver wired to fakes; `transcript` lists every command run, as `tool sub-command…`. */
function harness(scenario: Scenario = {}) {
  const transcript: string[] = [];
  const logs: string[] = [];
  const printed: string[] = [];
  const written: Array<[string, string]> = [];
  const suites: Array<{ args: string[]; context: string; kubeconfig: string }> = [];
  const rollouts = [...(scenario.rollouts ?? [deploymentList()])];
  let now = 0;
  const runner = async (command: string, args: readonly string[]): Promise<RunResult> => {
    // kubectl commands start with --kubeconfig K --context C.
    const words = command === 'kubectl' && args[0] === '--kubeconfig' ? args.slice(4) : args;
    const line = `${command} ${words.join(' ')}`;
    transcript.push(line);
    const ok = (stdout = ''): RunResult => ({ command, args, code: 0, signal: null, stdout, stderr: '' });
    if (scenario.missing?.includes(command) && (words[0] !== 'info' || command !== 'docker')) {
      return {
        command,
        args,
        code: -2,
        signal: null,
        stdout: '',
        stderr: '',
        error: Object.assign(new Error('ENOENT'), { code: 'ENOENT' }),
      };
    }
    if (scenario.missing?.includes('docker engine') && line.startsWith('docker info')) {
      return {
        command,
        args,
        code: 1,
        signal: null,
        stdout: '',
        stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.',
      };
    }
    if (line.startsWith('bash e2e/scripts/build-kind-offline.sh')) {
      const o = scenario.offline ?? { code: 0, stdout: OFFLINE_OUTPUT };
      return { command, args, code: o.code, signal: null, stdout: o.stdout ?? '', stderr: o.stderr ?? '' };
    }
    if (scenario.fail && line.startsWith(scenario.fail))
      return { command, args, code: 1, signal: null, stdout: '', stderr: `${scenario.fail}: boom` };
    if (line.startsWith('docker info')) return ok('28.5.1\n');
    if (line.startsWith('kind get clusters')) return ok(scenario.clusters ?? '');
    if (line.startsWith('kind get kubeconfig')) return ok('apiVersion: v1\nkind: Config\n');
    if (line.startsWith('kubectl get nodes')) return ok(NODES);
    if (line.startsWith('kubectl get deployments')) return ok(rollouts.length > 1 ? rollouts.shift() : rollouts[0]);
    return ok('v1\n');
  };
  const deps: DriverDeps = {
    runner,
    runSuite: async (args, connection) => {
      suites.push({ args, ...connection });
      return scenario.suiteCode ?? 0;
    },
    writeFile: async (path, content) => {
      written.push([path, content]);
    },
    kubeconfigPath: '/tmp/ksa.kubeconfig',
    log: (line) => logs.push(line),
    print: (line) => printed.push(line),
    wait: {
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    },
  };
  const offlineTools: OfflineBuild[] = [];
  deps.useOfflineTools = (build) => offlineTools.push(build);
  return { deps, transcript, logs, printed, written, suites, offlineTools };
}

const OFFLINE_OUTPUT =
  'kind=/c/kind\nkubectl=/c/kubectl\nnode_image=kube-service-auth/kind-node:v1.36.3-abc\netcd_image_tag=v3.6.16\n';
const NODES = JSON.stringify({
  items: [
    {
      metadata: { name: 'n' },
      status: {
        nodeInfo: {
          kubeletVersion: 'v1.36.3',
          containerRuntimeVersion: 'containerd://2.4.2',
          osImage: 'Debian',
          kernelVersion: '6',
        },
      },
    },
  ],
});

const TOOL_CHECKS = [
  'docker --version',
  'kind version',
  'kubectl version --client',
  'docker info --format {{.ServerVersion}}',
];

describe('pnpm e2e driver', () => {
  it('on a new cluster: creates it, builds and loads both images, applies, waits, runs the suite, deletes it', async () => {
    const h = harness({
      rollouts: [deploymentList(['api/api', 'data-store/app']), deploymentList(['api/api']), deploymentList()],
    });
    expect(await runDriver(['-t', 'revocation'], h.deps)).toBe(0);
    expect(h.transcript).toEqual([
      ...TOOL_CHECKS,
      'kind get clusters',
      'kind create cluster --name kube-service-auth --config e2e/kind/kind-config.yaml --kubeconfig /tmp/ksa.kubeconfig --wait 180s',
      'kind get kubeconfig --name kube-service-auth',
      'kubectl get nodes --output json',
      'docker build --file packages/demo-api/Dockerfile --tag kube-service-auth/demo-api:dev .',
      'kind load docker-image kube-service-auth/demo-api:dev --name kube-service-auth',
      'docker build --file packages/demo-store/Dockerfile --tag kube-service-auth/demo-store:dev .',
      'kind load docker-image kube-service-auth/demo-store:dev --name kube-service-auth',
      'kubectl apply --filename deploy/manifests',
      'kubectl get deployments --all-namespaces --selector app.kubernetes.io/part-of=kube-service-auth --output json',
      'kubectl get deployments --all-namespaces --selector app.kubernetes.io/part-of=kube-service-auth --output json',
      'kubectl get deployments --all-namespaces --selector app.kubernetes.io/part-of=kube-service-auth --output json',
      'kind delete cluster --name kube-service-auth',
    ]);
    expect(h.written).toEqual([['/tmp/ksa.kubeconfig', 'apiVersion: v1\nkind: Config\n']]);
    expect(h.suites).toEqual([
      { args: ['-t', 'revocation'], kubeconfig: '/tmp/ksa.kubeconfig', context: 'kind-kube-service-auth' },
    ]);
    expect(h.logs).toContain(
      '  data-store/app: 0 of 1 updated replicas available; api/api: 0 of 1 updated replicas available',
    );
    expect(h.logs).toContain('  api/api: 0 of 1 updated replicas available');
  });

  it("passes the suite's failure on as its exit code, and still deletes the cluster", async () => {
    const h = harness({ suiteCode: 1 });
    expect(await runDriver([], h.deps)).toBe(1);
    expect(h.transcript.at(-1)).toBe('kind delete cluster --name kube-service-auth');
  });

  it('reuses an existing cluster, restarts the deployments for the new images, and keeps it with --keep', async () => {
    const h = harness({ clusters: 'kind\nkube-service-auth\n' });
    expect(await runDriver(['--keep'], h.deps)).toBe(0);
    expect(h.transcript.some((c) => c.startsWith('kind create'))).toBe(false);
    expect(h.transcript).toContain(
      'kubectl rollout restart deployment --namespace api --selector app.kubernetes.io/part-of=kube-service-auth',
    );
    expect(h.transcript).toContain(
      'kubectl rollout restart deployment --namespace data-store --selector app.kubernetes.io/part-of=kube-service-auth',
    );
    expect(h.transcript.some((c) => c.startsWith('kind delete'))).toBe(false);
    expect(h.logs.join('\n')).toMatch(
      /kept the cluster[\s\S]*export KUBECONFIG=\/tmp\/ksa\.kubeconfig[\s\S]*kind delete cluster --name kube-service-auth/,
    );
  });

  it('--skip-build neither builds, loads nor restarts', async () => {
    const h = harness({ clusters: 'kube-service-auth\n' });
    await runDriver(['--skip-build'], h.deps);
    expect(h.transcript.filter((c) => /^docker build|^kind load|rollout restart/.test(c))).toEqual([]);
  });

  it("a failed image build stops the run with docker's error, and the cluster is deleted all the same", async () => {
    const h = harness({ fail: 'docker build' });
    await expect(runDriver([], h.deps)).rejects.toThrow(
      /docker build --file packages\/demo-api\/Dockerfile .* failed \(exit code 1\):\ndocker build: boom/,
    );
    expect(h.transcript.at(-1)).toBe('kind delete cluster --name kube-service-auth');
    expect(h.suites).toEqual([]);
  });

  it('a rollout that never finishes times out naming the pending deployments, shows pods and events, deletes the cluster', async () => {
    const h = harness({ rollouts: [deploymentList(['data-store/app'])] });
    h.deps.rolloutTimeoutMs = 30_000;
    await expect(runDriver([], h.deps)).rejects.toThrow(
      'timed out after 30 s waiting for the rollouts: data-store/app: 0 of 1 updated replicas available',
    );
    expect(h.transcript).toContain('kubectl get pods,events --all-namespaces --output wide');
    expect(h.transcript.at(-1)).toBe('kind delete cluster --name kube-service-auth');
  });

  it('with a tool missing: says what and exits 2 without touching any cluster', async () => {
    const h = harness({ missing: ['kind', 'docker engine'] });
    expect(await runDriver([], h.deps)).toBe(2);
    expect(h.transcript).toEqual(TOOL_CHECKS);
    expect(h.logs.join('\n')).toContain('pnpm e2e needs kind, docker engine:');
    expect(h.logs.at(-1)).toBe(
      'cannot run the kind end-to-end tests: no container runtime (docker engine not reachable); also missing: kind. (--if-available turns this into a skip.)',
    );
  });

  it('--if-available turns a missing runtime into "skipped: no container runtime …" and exit 0', async () => {
    const h = harness({ missing: ['docker'] });
    expect(await runDriver(['--if-available'], h.deps)).toBe(0);
    expect(h.printed).toEqual(['skipped: no container runtime (docker CLI not found)']);
    const k = harness({ missing: ['kubectl'] });
    expect(await runDriver(['--if-available'], k.deps)).toBe(0);
    expect(k.printed).toEqual(['skipped: missing: kubectl']);
  });

  it('--help prints the usage and runs nothing', async () => {
    const h = harness();
    expect(await runDriver(['--help'], h.deps)).toBe(0);
    expect(h.printed[0]).toMatch(/^usage: pnpm e2e \[--offline\] \[--keep\]/);
    expect(h.transcript).toEqual([]);
  });

  it("prints the node and each stage's duration at the end", async () => {
    const h = harness();
    expect(await runDriver([], h.deps)).toBe(0);
    const summary = h.printed.at(-1) ?? '';
    expect(summary).toContain("node image: kind's default");
    expect(summary).toContain('n: Kubernetes v1.36.3, containerd://2.4.2');
    expect(summary).toMatch(
      /stages: create cluster \d+s, build and load images \d+s, rollouts \d+s, cases \d+s, clean-up \d+s/,
    );
  });

  it('--offline builds first, then creates the cluster from the local node image with the etcd patch, using the built tools', async () => {
    const h = harness();
    expect(await runDriver(['--offline'], h.deps)).toBe(0);
    expect(h.transcript[0]).toBe('bash e2e/scripts/build-kind-offline.sh');
    expect(h.offlineTools).toEqual([
      {
        kind: '/c/kind',
        kubectl: '/c/kubectl',
        nodeImage: 'kube-service-auth/kind-node:v1.36.3-abc',
        etcdImageTag: 'v3.6.16',
      },
    ]);
    expect(h.transcript).toContain(
      'kind create cluster --name kube-service-auth --config /tmp/ksa.kubeconfig.kind-config.yaml --kubeconfig /tmp/ksa.kubeconfig --image kube-service-auth/kind-node:v1.36.3-abc --wait 180s',
    );
    const config = h.written.find(([path]) => path === '/tmp/ksa.kubeconfig.kind-config.yaml')?.[1] ?? '';
    expect(config).toContain('apiServerAddress: 127.0.0.1');
    expect(config).toMatch(
      /kubeadmConfigPatches:\n {2}- \|\n {4}kind: ClusterConfiguration\n[\s\S]*imageTag: v3\.6\.16/,
    );
    expect(h.printed.at(-1)).toContain('node image: kube-service-auth/kind-node:v1.36.3-abc');
    expect(h.printed.at(-1)).toMatch(/stages: offline build \d+s, create cluster/);
  });

  it('--offline with a missing prerequisite: names it and exits 2 (or skips with --if-available), touching no cluster', async () => {
    const stderr =
      '[docker-engine] capability ...\n[docker-engine] missing prerequisite: no Docker engine answers, and starting one needs root\n';
    const h = harness({ offline: { code: 2, stderr } });
    expect(await runDriver(['--offline'], h.deps)).toBe(2);
    expect(h.transcript).toEqual(['bash e2e/scripts/build-kind-offline.sh']);
    expect(h.logs.at(-1)).toBe(
      'cannot build the offline images: missing prerequisite: no Docker engine answers, and starting one needs root. (--if-available turns this into a skip.)',
    );
    const k = harness({ offline: { code: 2, stderr } });
    expect(await runDriver(['--offline', '--if-available'], k.deps)).toBe(0);
    expect(k.printed).toEqual([
      'skipped: offline build: missing prerequisite: no Docker engine answers, and starting one needs root',
    ]);
  });

  it("--offline with a failed build exits 1 with the build's last lines, and creates nothing", async () => {
    const h = harness({ offline: { code: 1, stderr: '[build-kind-images] error: debootstrap failed\n' } });
    expect(await runDriver(['--offline'], h.deps)).toBe(1);
    expect(h.transcript).toEqual(['bash e2e/scripts/build-kind-offline.sh']);
    expect(h.logs.at(-1)).toMatch(
      /^the offline build failed: bash e2e\/scripts\/build-kind-offline\.sh failed \(exit code 1\):\n\[build-kind-images\] error: debootstrap failed$/,
    );
  });

  it('stops between steps when interrupted, and still deletes the cluster', async () => {
    const h = harness();
    let calls = 0;
    h.deps.interrupted = () => ++calls > 1;
    expect(await runDriver([], h.deps)).toBe(130);
    expect(h.transcript.filter((c) => c.startsWith('docker build'))).toHaveLength(1);
    expect(h.transcript.at(-1)).toBe('kind delete cluster --name kube-service-auth');
  });
});
