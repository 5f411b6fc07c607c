import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  KubernetesObject,
  V1ClusterRoleBinding,
  V1Role,
  V1RoleBinding,
  V1Container,
  V1Deployment,
  V1Namespace,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';
import { loadConfig } from '@kube-service-auth/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClient, ControlPlane, isApiError } from '@kube-service-auth/testing';
import { IMAGES, kubectl, MANIFEST_DIR } from '../kind/commands.js';
import { run } from '../kind/exec.js';
import { deployments, loadManifests, objectKey, REPO_ROOT } from './manifests.js';

const entries = loadManifests();
const objects = entries.map((e) => e.object);
const byKey = (kind: string, key: string) => objects.find((o) => o.kind === kind && objectKey(o) === key);
const deployment = (key: string) => byKey('Deployment', key) as V1Deployment;
const service = (key: string) => byKey('Service', key) as V1Service;
const container = (d: V1Deployment) => d.spec?.template.spec?.containers[0] as V1Container;
const env = (d: V1Deployment) => Object.fromEntries((container(d).env ?? []).map((e) => [e.name, e.value ?? '']));

const API_SERVER_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

describe('the manifests, read', () => {
  it('declare exactly the objects of the article (both variants) plus the intruder', () => {
    expect(objects.map((o) => `${o.kind} ${objectKey(o)}`)).toEqual([
      'Namespace api',
      'Namespace data-store',
      'ServiceAccount api/api',
      'ServiceAccount api/intruder',
      'ServiceAccount data-store/data-store',
      'ClusterRoleBinding role-tokenreview-binding',
      'Role api/kube-service-auth-revocation',
      'RoleBinding api/kube-service-auth-revocation',
      'Deployment data-store/app',
      'Service data-store/app',
      'Deployment data-store/app-tokenreview',
      'Service data-store/app-tokenreview',
      'Deployment data-store/app-v1',
      'Service data-store/app-v1',
      'Deployment data-store/app-watch',
      'Service data-store/app-watch',
      'Deployment api/api',
      'Service api/api',
      'Deployment api/api-v1',
      'Service api/api-v1',
      'Deployment api/intruder',
    ]);
    for (const o of objects)
      expect(o.metadata?.labels?.['app.kubernetes.io/part-of'], objectKey(o)).toBe('kube-service-auth');
  });

  it('namespaces enforce the restricted Pod Security Standard', () => {
    for (const name of ['api', 'data-store']) {
      expect((byKey('Namespace', name) as V1Namespace).metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe(
        'restricted',
      );
    }
  });

  it('binds only the data-store ServiceAccount to system:auth-delegator, as role-tokenreview-binding', () => {
    const binding = byKey('ClusterRoleBinding', 'role-tokenreview-binding') as V1ClusterRoleBinding;
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'system:auth-delegator',
    });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'data-store', namespace: 'data-store' }]);
  });

  it('lets only the data store list, watch and get the pods and ServiceAccounts of the namespace it admits (watch mode)', () => {
    const role = byKey('Role', 'api/kube-service-auth-revocation') as V1Role;
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods', 'serviceaccounts'], verbs: ['get', 'list', 'watch'] },
    ]);
    const binding = byKey('RoleBinding', 'api/kube-service-auth-revocation') as V1RoleBinding;
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'kube-service-auth-revocation',
    });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'data-store', namespace: 'data-store' }]);
    // The namespaces the watch-mode data store follows are the ones it has a Role in.
    expect(loadConfig(env(deployment('data-store/app-watch'))).revocationNamespaces).toEqual(['api']);
  });

  it('variant 2 API: projected token for audience data-store, 600 s, at /var/run/secrets/tokens/api-token; no default token', () => {
    const api = deployment('api/api');
    const spec = api.spec?.template.spec;
    expect(spec?.serviceAccountName).toBe('api');
    expect(spec?.automountServiceAccountToken).toBe(false);
    const volume = spec?.volumes?.find((v) => v.name === 'api-token');
    expect(volume?.projected?.sources).toEqual([
      { serviceAccountToken: { path: 'api-token', audience: 'data-store', expirationSeconds: 600 } },
    ]);
    expect(container(api).volumeMounts).toEqual([
      { name: 'api-token', mountPath: '/var/run/secrets/tokens', readOnly: true },
    ]);
    expect(env(api)).toMatchObject({
      TOKEN_FILE: '/var/run/secrets/tokens/api-token',
      DATA_STORE_CONNSTRING: 'http://app.data-store.svc.cluster.local',
    });
  });

  it('variant 1 API: the default token, sent to the variant-1 data store', () => {
    const api = deployment('api/api-v1');
    expect(api.spec?.template.spec?.serviceAccountName).toBe('api');
    expect(api.spec?.template.spec?.automountServiceAccountToken).not.toBe(false);
    expect(api.spec?.template.spec?.volumes).toBeUndefined();
    expect(env(api)).toMatchObject({
      TOKEN_FILE: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      DATA_STORE_CONNSTRING: 'http://app-v1.data-store.svc.cluster.local',
    });
  });

  it('the intruder runs as ServiceAccount intruder with its own data-store token', () => {
    const intruder = deployment('api/intruder');
    expect(intruder.spec?.template.spec?.serviceAccountName).toBe('intruder');
    expect(intruder.spec?.template.spec?.volumes?.[0]?.projected?.sources?.[0]?.serviceAccountToken?.audience).toBe(
      'data-store',
    );
  });

  it.each([
    ['data-store/app', 'local', 'data-store'],
    ['data-store/app-tokenreview', 'tokenreview', 'data-store'],
    ['data-store/app-v1', 'tokenreview', API_SERVER_AUDIENCE],
    ['data-store/app-watch', 'local', 'data-store'],
  ])(
    'data store %s: %s mode, audience %s, only the API allowed; the verifier accepts its environment',
    (key, mode, audience) => {
      const store = deployment(key);
      expect(store.spec?.template.spec?.serviceAccountName).toBe('data-store');
      const vars = env(store);
      expect(vars).toMatchObject({
        K8S_AUTH_MODE: mode,
        K8S_AUTH_AUDIENCE: audience,
        K8S_AUTH_ALLOWED_IDENTITIES: 'system:serviceaccount:api:api',
        K8S_AUTH_HEADER: 'x-client-id',
        K8S_AUTH_REQUIRE_POD_BINDING: 'true',
      });
      if (mode === 'local') {
        expect(vars).toMatchObject({
          K8S_AUTH_ISSUER: 'https://kubernetes.default.svc.cluster.local',
          K8S_AUTH_JWKS_URI: 'https://kubernetes.default.svc/openid/v1/jwks',
        });
        // Its own token and the cluster CA: the pod's mounted defaults, not overridden.
        expect(vars.K8S_AUTH_CA_FILE).toBeUndefined();
        expect(vars.K8S_AUTH_TOKEN_FILE).toBeUndefined();
        expect(store.spec?.template.spec?.automountServiceAccountToken).toBe(true);
      }
      const config = loadConfig(vars);
      expect(config).toMatchObject({
        mode,
        audiences: [audience],
        allow: ['system:serviceaccount:api:api'],
        header: 'x-client-id',
        requirePodBinding: true,
      });
    },
  );

  it.each(deployments(entries).map((d) => [objectKey(d), d] as const))(
    '%s: hardened, probed, limited, one of our images',
    (_key, d) => {
      const pod = d.spec?.template.spec;
      const c = container(d);
      expect(d.spec?.selector.matchLabels).toEqual({ app: d.metadata?.name });
      expect(d.spec?.template.metadata?.labels).toMatchObject(d.spec?.selector.matchLabels ?? { missing: true });
      expect(pod?.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        fsGroup: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod?.containers).toHaveLength(1);
      expect(c.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(Object.keys(c.resources?.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
      expect(Object.keys(c.resources?.limits ?? {}).sort()).toEqual(['cpu', 'memory']);
      expect(IMAGES.map((i) => i.tag)).toContain(c.image);
      expect(c.imagePullPolicy).toBe('IfNotPresent');
      // The container port is the one the service listens on.
      const port = c.ports?.find((p) => p.name === 'http')?.containerPort;
      expect(env(d).LISTEN_ADDR).toBe(`:${port}`);
    },
  );

  it('data stores are ClusterIP port 80 -> 8081, APIs NodePort 80 -> 8080; each Service selects one Deployment', () => {
    for (const key of ['data-store/app', 'data-store/app-tokenreview', 'data-store/app-v1', 'data-store/app-watch']) {
      expect(service(key).spec).toMatchObject({
        type: 'ClusterIP',
        ports: [{ name: 'http', port: 80, targetPort: 8081 }],
      });
    }
    expect(service('api/api').spec).toMatchObject({
      type: 'NodePort',
      ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }],
    });
    expect(service('api/api-v1').spec).toMatchObject({
      type: 'NodePort',
      ports: [{ port: 80, targetPort: 8080, nodePort: 30081 }],
    });
    for (const svc of objects.filter((o) => o.kind === 'Service') as V1Service[]) {
      const selected = deployments(entries).filter(
        (d) =>
          d.metadata?.namespace === svc.metadata?.namespace &&
          Object.entries(svc.spec?.selector ?? {}).every(([k, v]) => d.spec?.template.metadata?.labels?.[k] === v),
      );
      expect(selected.map(objectKey), objectKey(svc)).toHaveLength(1);
      const target = svc.spec?.ports?.[0]?.targetPort;
      expect(container(selected[0] as V1Deployment).ports?.[0]?.containerPort, objectKey(svc)).toBe(target);
    }
  });

  it('every DATA_STORE_CONNSTRING names a data-store Service of the manifests', () => {
    for (const d of deployments(entries).filter((x) => env(x).DATA_STORE_CONNSTRING)) {
      const host = new URL(env(d).DATA_STORE_CONNSTRING as string).hostname;
      const [name, namespace] = host.split('.');
      expect(host, objectKey(d)).toBe(`${name}.${namespace}.svc.cluster.local`);
      expect(service(`${namespace}/${name}`), host).toBeDefined();
    }
  });
});

/**
 * Paths of fields present in `sent` but absent (or different) in `returned`. The server adds defaults, never removes
 * what it accepted; scalars are compared as strings (e.g. `"true"` stays `"true"`, 8081 stays 8081).
 */
function lostFields(sent: unknown, returned: unknown, path = ''): string[] {
  if (sent === null || typeof sent !== 'object') return String(sent) === String(returned) ? [] : [path];
  if (returned === null || typeof returned !== 'object') return [path];
  return Object.entries(sent).flatMap(([key, value]) =>
    lostFields(value, (returned as Record<string, unknown>)[key], path ? `${path}.${key}` : key),
  );
}

/** A Pod with a Deployment's template, to let Pod Security admission judge it (it only warns about Deployments). */
function podOf(d: V1Deployment, patch: (pod: V1Pod) => void = () => {}): V1Pod {
  const pod: V1Pod = structuredClone({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${d.metadata?.name}-dry-run`,
      namespace: d.metadata?.namespace,
      labels: d.spec?.template.metadata?.labels,
    },
    spec: d.spec?.template.spec,
  });
  patch(pod);
  return pod;
}

describe('the manifests, against a real kube-apiserver (server-side dry run)', () => {
  let plane: ControlPlane;
  let client: ClusterClient;

  beforeAll(async () => {
    plane = await ControlPlane.start();
    client = new ClusterClient(plane.kubeConfig());
    // Namespaced objects can only be dry-run in namespaces that exist: the namespaces are applied for real.
    await client.applyManifest(objects.filter((o) => o.kind === 'Namespace'));
  });

  afterAll(async () => {
    await plane?.stop();
  });

  const dryRun = async (object: KubernetesObject) => (await client.applyManifest([object], { dryRun: 'All' }))[0];
  /** `accepted`, or the status code and the server's message. */
  const rejection = async (object: KubernetesObject): Promise<string> => {
    try {
      await dryRun(object);
      return 'accepted';
    } catch (err) {
      const { code, body } = err as { code?: number; body?: unknown };
      let message = String(body ?? err);
      try {
        message = (JSON.parse(message) as { message?: string }).message ?? message;
      } catch {
        // not a Status object
      }
      return `${code} ${message}`;
    }
  };

  // client-node serialises objects through its typed models, which silently drop fields they do not know: a typo in
  // the YAML would be "accepted". So every field written in the YAML must come back from the server.
  it.each(entries.map((e) => [`${e.object.kind} ${objectKey(e.object)}`, e.file, e.object] as const))(
    'accepts %s (%s), every field intact',
    async (_name, _file, object) => {
      const applied = await dryRun(object);
      expect(applied?.kind).toBe(object.kind);
      expect(objectKey(applied as KubernetesObject)).toBe(objectKey(object));
      if (object.kind !== 'Namespace')
        expect(applied?.metadata?.uid, 'the server admitted and defaulted it').toBeTruthy();
      expect(lostFields(object, applied)).toEqual([]);
    },
  );

  it('…and that comparison catches a misspelled field', async () => {
    const typo = structuredClone(deployment('data-store/app')) as unknown as {
      spec: { template: { spec: { containers: Array<Record<string, unknown>> } } };
    };
    (typo.spec.template.spec.containers[0] as Record<string, unknown>).imagePullPolicyy = 'Always';
    const applied = await dryRun(typo as unknown as KubernetesObject);
    expect(lostFields(typo, applied)).toEqual(['spec.template.spec.containers.0.imagePullPolicyy']);
  });

  it('persisted nothing but the namespaces', async () => {
    await expect(client.core.readNamespacedServiceAccount({ namespace: 'api', name: 'api' })).rejects.toSatisfy((e) =>
      isApiError(e, 404),
    );
    await expect(client.rbac.readClusterRoleBinding({ name: 'role-tokenreview-binding' })).rejects.toSatisfy((e) =>
      isApiError(e, 404),
    );
  });

  it.each(deployments(entries).map((d) => [objectKey(d), d] as const))(
    'Pod Security "restricted" admits the pods of %s',
    async (_key, d) => {
      expect(await rejection(podOf(d))).toBe('accepted');
    },
  );

  it('…and the same check refuses a pod without the security context (the check has teeth)', async () => {
    const weak = podOf(deployment('api/api'), (pod) => {
      delete pod.spec?.containers[0]?.securityContext;
    });
    expect(await rejection(weak)).toMatch(
      /^403 pods "api-dry-run" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/,
    );
  });

  it('the dry run validates: a projected token of under 10 minutes is refused', async () => {
    const short = structuredClone(deployment('api/api'));
    const source = short.spec?.template.spec?.volumes?.[0]?.projected?.sources?.[0]?.serviceAccountToken;
    if (source) source.expirationSeconds = 60;
    expect(await rejection(short)).toMatch(/^422 .*expirationSeconds.*may not specify a duration less than 10 minutes/);
  });

  const hasKubectl = execFileSync('bash', ['-c', 'command -v kubectl || true'], { encoding: 'utf8' }).trim() !== '';

  it.skipIf(!hasKubectl)(
    'kubectl apply --dry-run=server -f deploy/manifests (the command pnpm e2e runs, dry) accepts every object',
    async () => {
      const context = plane.kubeConfig().getCurrentContext();
      const result = await run(
        'kubectl',
        kubectl.apply({ kubeconfig: plane.kubeconfigPath, context }, MANIFEST_DIR, { dryRun: 'server' }),
        {
          cwd: REPO_ROOT,
          timeoutMs: 60_000,
        },
      );
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.trim().split('\n');
      expect(lines).toHaveLength(objects.length);
      for (const line of lines) expect(line).toMatch(/ \(server dry run\)$/);
      expect(lines).toContain(
        'clusterrolebinding.rbac.authorization.k8s.io/role-tokenreview-binding created (server dry run)',
      );
    },
  );

  it.skipIf(!hasKubectl)('kubectl refuses an unknown field in a manifest (strict validation)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ksa-manifests-'));
    try {
      const text = readFileSync(join(REPO_ROOT, MANIFEST_DIR, '20-data-store.yaml'), 'utf8').replace(
        'imagePullPolicy:',
        'imagePullPolicyy:',
      );
      writeFileSync(join(dir, 'typo.yaml'), text);
      const context = plane.kubeConfig().getCurrentContext();
      const result = await run(
        'kubectl',
        kubectl.apply({ kubeconfig: plane.kubeconfigPath, context }, dir, { dryRun: 'server' }),
        { timeoutMs: 60_000 },
      );
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/unknown field "spec\.template\.spec\.containers\[0\]\.imagePullPolicyy"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
