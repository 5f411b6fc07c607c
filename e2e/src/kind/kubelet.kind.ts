import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, TEXT } from '../cases/http.js';
import { deployments, loadManifests } from '../deploy/manifests.js';
import { kubectl, kubectlArgs } from './commands.js';
import { run, runChecked } from './exec.js';
import { KindTarget } from './kind-target.js';
import { detectContainerRuntime } from './tools.js';
import { waitFor } from './wait.js';

// What only a real kubelet shows, run by `pnpm e2e` after the shared cases (files run in name order). The embedded
// control plane of `pnpm test` has no kubelet: there the tests write the projected token themselves.
const kubeconfig = process.env.KSA_KIND_KUBECONFIG;
const context = process.env.KSA_KIND_CONTEXT ?? 'kind-kube-service-auth';
const runtime = await detectContainerRuntime(run);
const skipReason = !runtime.available
  ? runtime.reason
  : !kubeconfig
    ? 'no kind cluster (KSA_KIND_KUBECONFIG is not set: run `pnpm e2e`)'
    : undefined;
if (skipReason) console.log(`[kind] skipped: ${skipReason}`);

const TOKEN_DIR = '/var/run/secrets/tokens';
/** pkg/kubelet/token/token_manager.go: a token is refreshed once older than 80 % of its TTL, minus up to 10 s jitter. */
const REFRESH_AT = 0.8;
const MAX_JITTER_S = 10;

interface Claims {
  aud: string[];
  sub: string;
  iat: number;
  exp: number;
  'kubernetes.io': {
    namespace: string;
    pod?: { name: string; uid: string };
    node?: { name: string; uid: string };
    serviceaccount: { name: string };
  };
}
const claimsOf = (token: string): Claims =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Claims;
const ready = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

describe.skipIf(skipReason !== undefined)(
  skipReason ? `the kubelet on kind (skipped: ${skipReason})` : 'the kubelet on kind',
  () => {
    let target: KindTarget;
    const exec = async (namespace: string, pod: string, container: string, command: string[]) =>
      (
        await runChecked(run, 'kubectl', kubectl.exec(target.connection, { namespace, pod, container, command }), {
          timeoutMs: 30_000,
        })
      ).stdout;
    const readApiToken = async () => {
      const pod = await target.livePod('api', 'app=api');
      return { pod, token: (await exec('api', pod, 'api', ['cat', `${TOKEN_DIR}/api-token`])).trim() };
    };

    beforeAll(async () => {
      target = await KindTarget.start({
        connection: { kubeconfig: kubeconfig as string, context },
        log: (line) => process.stderr.write(`[kind] ${line}\n`),
      });
    });

    afterAll(() => {
      target?.stop();
    });

    it('projects the token the way the kubelet promises: atomic-writer layout, owned by the pod user and fsGroup, mode 0640, bound to pod and node', async () => {
      const { pod, token } = await readApiToken();
      // stat of the directory entries: name|type|octal mode|uid|gid|name -> target.
      const listing = (
        await exec('api', pod, 'api', [
          'sh',
          '-c',
          `cd ${TOKEN_DIR} && ls -A && stat -c '%n|%F|%a|%u|%g|%N' ..data api-token ..data/api-token`,
        ])
      )
        .trim()
        .split('\n');
      const stats = listing.filter((line) => line.includes('|'));
      const names = listing.filter((line) => !line.includes('|')).sort();
      // The atomic writer (pkg/volume/util/atomic_writer.go): a timestamped directory, `..data` pointing at it, and each
      // projected file a symlink through `..data`, so that a rotation swaps every file at once.
      expect(names).toHaveLength(3);
      expect(names[0]).toMatch(/^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+$/);
      expect(names.slice(1)).toEqual(['..data', 'api-token']);
      expect(stats[0]).toMatch(
        new RegExp(
          `^\\.\\.data\\|symbolic link\\|777\\|0\\|1000\\|'\\.\\.data' -> '${names[0]?.replace(/\./g, '\\.')}'$`,
        ),
      );
      // The atomic writer lchowns each projected file and its visible symlink to the pod's user (FsUser); `..data` stays
      // root's. The group of everything is the pod's fsGroup.
      expect(stats[1]).toBe("api-token|symbolic link|777|1000|1000|'api-token' -> '..data/api-token'");
      // pkg/volume/projected: a token gets mode 0600 when the pod sets fsGroup or one runAsUser (owner: that user); the
      // fsGroup ownership change then adds group read (0440 on a read-only volume). So only uid 1000 and gid 1000 read it.
      expect(stats[2]).toBe("..data/api-token|regular file|640|1000|1000|'..data/api-token'");

      const apiPod = await target.core.readNamespacedPod({ namespace: 'api', name: pod });
      const claims = claimsOf(token);
      expect(claims.aud).toEqual(['data-store']);
      expect(claims.sub).toBe('system:serviceaccount:api:api');
      expect(claims.exp - claims.iat).toBe(600);
      expect(claims['kubernetes.io'].pod).toEqual({ name: pod, uid: apiPod.metadata?.uid });
      // Node binding (ServiceAccountTokenPodNodeInfo): the kubelet's token names the node the pod runs on.
      expect(claims['kubernetes.io'].node?.name).toBe(apiPod.spec?.nodeName);
    });

    it("runs every pod with the manifests' restricted security context: uid 1000, no capabilities, no privilege escalation, seccomp, read-only root", async () => {
      for (const [namespace, selector, container] of [
        ['api', 'app=api', 'api'],
        ['data-store', 'app=app', 'data-store'],
        ['data-store', 'app=app-tokenreview', 'data-store'],
      ] as const) {
        const pod = await target.livePod(namespace, selector);
        const out = await exec(namespace, pod, container, [
          'sh',
          '-c',
          'echo "uid=$(id -u) gid=$(id -g)"; grep -E "^(CapPrm|CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; touch /probe 2>&1 || true',
        ]);
        const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)$`, 'm').exec(out)?.[1];
        expect(out, `${namespace}/${pod}`).toContain('uid=1000 gid=1000');
        expect(
          [field('CapPrm'), field('CapEff'), field('CapBnd')],
          `${namespace}/${pod}: capabilities drop ALL`,
        ).toEqual(['0000000000000000', '0000000000000000', '0000000000000000']);
        expect(field('NoNewPrivs'), `${namespace}/${pod}: allowPrivilegeEscalation false`).toBe('1');
        expect(field('Seccomp'), `${namespace}/${pod}: seccomp RuntimeDefault (2 = filter)`).toBe('2');
        expect(out, `${namespace}/${pod}: readOnlyRootFilesystem`).toMatch(/Read-only file system/);
      }
    });

    it('the namespaces enforce the restricted Pod Security Standard: the API server refuses a privileged pod', async () => {
      const pod = JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'privileged-probe', namespace: 'api' },
        spec: {
          containers: [{ name: 'c', image: 'kube-service-auth/demo-api:dev', securityContext: { privileged: true } }],
        },
      });
      const dir = await mkdtemp(join(tmpdir(), 'ksa-psa-'));
      try {
        await writeFile(join(dir, 'pod.json'), pod);
        // Server-side dry run: admission runs, nothing is stored, no container starts.
        const result = await run(
          'kubectl',
          kubectlArgs(target.connection, 'apply', '--dry-run=server', '--filename', join(dir, 'pod.json')),
          { timeoutMs: 30_000 },
        );
        expect(result.code).not.toBe(0);
        expect(result.stderr).toMatch(/violates PodSecurity "restricted:[^"]+": privileged/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('a pod removed by `kubectl delete pod` is replaced by its ReplicaSet: new name and uid, same owner, Ready, serving again', async () => {
      const pods = async () =>
        (await target.core.listNamespacedPod({ namespace: 'data-store', labelSelector: 'app=app-v1' })).items;
      const before = (await pods()).find((p) => ready(p) && !p.metadata?.deletionTimestamp) as V1Pod;
      const owner = before.metadata?.ownerReferences?.find((ref) => ref.controller);
      expect(owner?.kind).toBe('ReplicaSet');
      await runChecked(
        run,
        'kubectl',
        kubectlArgs(
          target.connection,
          'delete',
          'pod',
          '--namespace',
          'data-store',
          before.metadata?.name as string,
          '--wait=true',
        ),
        {
          timeoutMs: 120_000,
        },
      );
      const replacement = await waitFor('a Ready replacement of the deleted data-store pod', {
        poll: async () =>
          (await pods()).find(
            (p) => p.metadata?.uid !== before.metadata?.uid && ready(p) && !p.metadata?.deletionTimestamp,
          ),
        done: (pod) => pod !== undefined,
        describe: () => 'none Ready yet',
        timeoutMs: 120_000,
        intervalMs: 1000,
      });
      expect(replacement?.metadata?.name).not.toBe(before.metadata?.name);
      expect(replacement?.metadata?.ownerReferences?.find((ref) => ref.controller)?.uid).toBe(owner?.uid);
      // The variant-1 API reaches the store through its Service, which now points at the replacement.
      expect(await eventually(async () => (await call(target.apiUrls.variant1)).status === 200, 60_000)).toBe(true);
      expect(await call(target.apiUrls.variant1)).toMatchObject({ status: 200, body: TEXT.ok });
    });

    it("the data store's /readyz gates its rollout: without its keys it runs but is not Ready and not available, and becomes both once it can load them", async () => {
      const name = 'readyz-probe';
      const jwksEnv = 'K8S_AUTH_JWKS_URI';
      const store = structuredClone(
        deployments(loadManifests()).find(
          (d) => d.metadata?.namespace === 'data-store' && d.metadata.name === 'app',
        ) as V1Deployment,
      );
      const goodJwks = store.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === jwksEnv)?.value as string;
      const labels = { app: name, 'kube-service-auth/test': 'readyz' };
      const body: V1Deployment = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: 'data-store', labels },
        spec: {
          ...store.spec,
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            ...store.spec?.template,
            metadata: { labels },
            spec: {
              ...store.spec?.template.spec,
              containers: (store.spec?.template.spec?.containers ?? []).map((c) => ({
                ...c,
                // An in-cluster path the API server answers 404: the store starts but cannot load its issuer's keys.
                env: c.env?.map((e) => (e.name === jwksEnv ? { name: jwksEnv, value: `${goodJwks}-not-there` } : e)),
              })),
            },
          },
        },
      };
      const apps = target.kubeConfig.makeApiClient(AppsV1Api);
      await apps.createNamespacedDeployment({ namespace: 'data-store', body });
      try {
        const started = await waitFor('the readyz-probe container to start', {
          poll: async () =>
            (await target.core.listNamespacedPod({ namespace: 'data-store', labelSelector: `app=${name}` })).items.find(
              (p) => p.status?.containerStatuses?.[0]?.started === true,
            ),
          done: (pod) => pod !== undefined,
          describe: () => 'not started',
          timeoutMs: 120_000,
          intervalMs: 1000,
        });
        // Three readiness periods (5 s each in the manifest) after the start: the probe has answered several times.
        await new Promise((resolve) => setTimeout(resolve, 16_000));
        const pod = await target.core.readNamespacedPod({
          namespace: 'data-store',
          name: started?.metadata?.name as string,
        });
        expect(pod.status?.phase).toBe('Running');
        expect(ready(pod), 'not Ready while /readyz answers 503').toBe(false);
        const answer = await exec('data-store', pod.metadata?.name as string, 'data-store', [
          'node',
          '-e',
          "fetch('http://127.0.0.1:8081/readyz').then(async (r) => console.log(r.status, await r.text()))",
        ]);
        expect(answer).toMatch(/^503 not ready: /);
        const unavailable = await apps.readNamespacedDeployment({ namespace: 'data-store', name });
        expect(unavailable.status?.availableReplicas ?? 0, 'the Deployment counts no available replica').toBe(0);

        await runChecked(
          run,
          'kubectl',
          kubectlArgs(
            target.connection,
            'set',
            'env',
            `deployment/${name}`,
            '--namespace',
            'data-store',
            `${jwksEnv}=${goodJwks}`,
          ),
          {
            timeoutMs: 30_000,
          },
        );
        const rolledOut = await waitFor('the fixed readyz-probe rollout', {
          poll: async () => (await apps.readNamespacedDeployment({ namespace: 'data-store', name })).status,
          done: (status) =>
            (status?.availableReplicas ?? 0) === 1 &&
            (status?.updatedReplicas ?? 0) === 1 &&
            (status?.unavailableReplicas ?? 0) === 0,
          describe: (status) =>
            `available ${status?.availableReplicas ?? 0}, updated ${status?.updatedReplicas ?? 0}, unavailable ${status?.unavailableReplicas ?? 0}`,
          timeoutMs: 120_000,
          intervalMs: 1000,
        });
        expect(rolledOut?.availableReplicas).toBe(1);
      } finally {
        await apps.deleteNamespacedDeployment({ namespace: 'data-store', name }).catch(() => undefined);
      }
    });

    it(
      'rotates the projected token after 80 % of its lifetime and before it expires, and the API process sends the new one',
      async () => {
        const first = await readApiToken();
        const old = claimsOf(first.token);
        const ttl = old.exp - old.iat;
        process.stderr.write(
          `[kind] waiting for the kubelet to rotate the API token (issued ${new Date(old.iat * 1000).toISOString()}, TTL ${ttl} s)\n`,
        );
        let current = first;
        const rotated = await waitFor('the kubelet to rotate the projected token', {
          poll: async () => (current = await readApiToken()),
          done: (now) => now.token !== first.token,
          describe: () => 'unchanged',
          // The kubelet must have rotated before the old token expires; the file is rewritten on a pod sync (1 min).
          timeoutMs: Math.max(0, old.exp * 1000 - Date.now()),
          intervalMs: 5000,
        });
        const fresh = claimsOf(rotated?.token ?? current.token);
        expect(rotated?.pod, 'the same pod: rotation, not a replacement').toBe(first.pod);
        expect(fresh.iat, "not before 80 % of the old token's lifetime (less the jitter)").toBeGreaterThanOrEqual(
          old.iat + REFRESH_AT * ttl - MAX_JITTER_S,
        );
        expect(fresh.iat, 'before the old token expired').toBeLessThan(old.exp);
        expect(fresh.exp - fresh.iat).toBe(ttl);
        expect(fresh.aud).toEqual(old.aud);
        expect(fresh['kubernetes.io'].pod).toEqual(old['kubernetes.io'].pod);

        // The API re-reads the file per request and logs each token it loads with its expiry: after one call, the log
        // names the new token's expiry, and the data store authenticated that call.
        expect(await call(target.apiUrls.variant2)).toMatchObject({ status: 200, body: TEXT.ok });
        const logs = await target.logs('api', 'app=api');
        expect(logs).toContain(`"expiresAt":"${new Date(fresh.exp * 1000).toISOString()}"`);
        // The old token stays valid until it expires: local mode still accepts it (rotation is not revocation).
        expect(await call(target.storeUrls.local, first.token)).toMatchObject({ status: 200, body: TEXT.ok });
      },
      12 * 60_000,
    );
  },
);
