import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AuthenticationV1Api, VersionApi } from '@kubernetes/client-node';
import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually } from '../test/eventually.js';
import { PROVIDE_KEY } from './global-setup.js';
import { isApiError } from './cluster.js';
import { CONNECTION_ENV, TestCluster, type ControlPlaneConnection, type TestNamespace } from './test-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeServiceAuthControlPlane: ControlPlaneConnection;
  }
}

// Against the control plane of the project's global setup (examples/global-setup.ts), as a user's suite would run.

interface Claims {
  aud: string[];
  iat: number;
  exp: number;
  sub: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    node?: { name: string; uid: string };
  };
}
const claimsOf = (token: string): Claims => decodeJwt(token) as unknown as Claims;

let cluster: TestCluster;
let ns: TestNamespace;

beforeAll(async () => {
  cluster = TestCluster.fromEnv();
  ns = await cluster.createNamespace({ prefix: 'kit' });
});

describe('TestCluster', () => {
  it('says which setup is missing when the connection variable is not set', () => {
    expect(() => TestCluster.fromEnv({})).toThrow(new RegExp(`${CONNECTION_ENV} is not set.*globalSetup`));
  });

  it("reaches workers both through the environment and through vitest's inject", () => {
    expect(PROVIDE_KEY).toBe('kubeServiceAuthControlPlane');
    expect(inject('kubeServiceAuthControlPlane')).toEqual(cluster.connection);
    expect(cluster.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('gives every namespace a fresh name, so that tests do not see each other', async () => {
    const [a, b] = await Promise.all([cluster.createNamespace(), cluster.createNamespace()]);
    expect(a.name).toMatch(/^test-[0-9a-f]{6}$/);
    expect(b.name).not.toBe(a.name);
    const names = (await cluster.client.core.listNamespace()).items.map((item) => item.metadata?.name);
    expect(names).toEqual(expect.arrayContaining([a.name, b.name]));
  });
});

describe('tokens', () => {
  it('mints unbound tokens for the chosen audiences and lifetime', async () => {
    const [sa] = await ns.createServiceAccounts('unbound');
    const token = await sa.token({ audiences: ['store', 'other'], expirationSeconds: 1200 });
    const claims = claimsOf(token);
    expect(claims.aud).toEqual(['store', 'other']);
    expect(claims.exp - claims.iat).toBe(1200);
    expect(claims.sub).toBe(sa.username);
    expect(claims['kubernetes.io']).toEqual({ namespace: ns.name, serviceaccount: { name: 'unbound', uid: sa.uid } });
    expect((await cluster.reviewToken(token, ['store'])).authenticated).toBe(true);
    expect((await cluster.reviewToken(token, ['elsewhere'])).authenticated).toBeFalsy();
  });

  it('mints pod-bound tokens, with node claims for a pod bound to a node', async () => {
    const node = await cluster.createNode();
    const [sa] = await ns.createServiceAccounts('bound');
    const pod = await ns.createPod('bound-0', { serviceAccount: sa, nodeName: node.name });
    const claims = claimsOf(await pod.token({ audiences: ['store'] }));
    expect(claims['kubernetes.io'].pod).toEqual({ name: 'bound-0', uid: pod.uid });
    expect(claims['kubernetes.io'].node).toEqual(node);
    expect(claims.exp - claims.iat).toBe(3600);
  });

  it("refuses a deleted pod's tokens and binds new ones to the recreated pod", async () => {
    const [sa] = await ns.createServiceAccounts('phoenix');
    const pod = await ns.createPod('phoenix-0', { serviceAccount: sa });
    const oldUid = pod.uid;
    const old = await pod.token({ audiences: ['store'] });
    expect((await cluster.reviewToken(old, ['store'])).authenticated).toBe(true);
    await pod.delete();
    expect(() => pod.uid).toThrow(/deleted/);
    expect(await eventually(async () => !(await cluster.reviewToken(old, ['store'])).authenticated)).toBe(true);
    await pod.recreate();
    expect(pod.uid).not.toBe(oldUid);
    expect((await cluster.reviewToken(old, ['store'])).authenticated).toBeFalsy();
    expect((await cluster.reviewToken(await pod.token({ audiences: ['store'] }), ['store'])).authenticated).toBe(true);
  });

  it('refuses the tokens of a recreated ServiceAccount', async () => {
    const [sa] = await ns.createServiceAccounts('reborn');
    const oldUid = sa.uid;
    const old = await sa.token({ audiences: ['store'] });
    await sa.recreate();
    expect(sa.uid).not.toBe(oldUid);
    expect(await eventually(async () => !(await cluster.reviewToken(old, ['store'])).authenticated)).toBe(true);
    expect((await cluster.reviewToken(await sa.token({ audiences: ['store'] }), ['store'])).authenticated).toBe(true);
  });
});

describe('projected token volume', () => {
  it("is written in the kubelet's atomic-writer layout and rotated by a symlink swap", async () => {
    const [sa] = await ns.createServiceAccounts('projected');
    const pod = await ns.createPod('projected-0', { serviceAccount: sa });
    const volume = await pod.projectToken({ path: 'store-token', audiences: ['store'], expirationSeconds: 600 });
    try {
      expect((await lstat(volume.path)).isSymbolicLink()).toBe(true);
      expect(await readlink(volume.path)).toBe(join('..data', 'store-token'));
      const firstTarget = await readlink(join(volume.dir, '..data'));
      expect(firstTarget).toMatch(/^\.\.\d{4}_/);
      const first = await readFile(volume.path, 'utf8');
      expect(first).toBe(volume.token);
      expect(claimsOf(first)['kubernetes.io'].pod).toEqual({ name: 'projected-0', uid: pod.uid });

      await pod.recreate();
      await volume.rotate();
      const second = await readFile(volume.path, 'utf8');
      expect(second).not.toBe(first);
      expect(claimsOf(second)['kubernetes.io'].pod?.uid).toBe(pod.uid);
      expect(await readlink(join(volume.dir, '..data'))).not.toBe(firstTarget);
      // The previous generation is gone; only the file link, ..data and the current generation remain.
      expect((await readdir(volume.dir)).sort()).toEqual(
        ['..data', await readlink(join(volume.dir, '..data')), 'store-token'].sort(),
      );
    } finally {
      volume.stop();
    }
  });
});

describe('in-cluster credentials', () => {
  it('hold what a pod has mounted, and let the service call the API server as its ServiceAccount', async () => {
    const [sa] = await ns.createServiceAccounts('service');
    await sa.grantAuthDelegator();
    const pod = await ns.createPod('service-0', { serviceAccount: sa });
    const credentials = await pod.inClusterCredentials();
    try {
      expect(await readFile(join(credentials.dir, 'ca.crt'), 'utf8')).toBe(cluster.caPem);
      expect(await readFile(join(credentials.dir, 'namespace'), 'utf8')).toBe(ns.name);
      expect(credentials.tokenFile).toBe(join(credentials.dir, 'token'));
      const token = await readFile(credentials.tokenFile, 'utf8');
      expect(claimsOf(token).aud).toEqual(cluster.connection.apiAudiences);
      expect(claimsOf(token)['kubernetes.io'].pod?.uid).toBe(pod.uid);
      expect(credentials.env).toMatchObject({
        KUBERNETES_SERVICE_HOST: '127.0.0.1',
        KUBERNETES_SERVICE_PORT: new URL(cluster.url).port,
        K8S_AUTH_ISSUER: cluster.issuer,
        K8S_AUTH_KUBECONFIG: credentials.kubeconfigFile,
      });

      // The service is who it says: it may create a TokenReview (system:auth-delegator), as its own user.
      const kc = credentials.kubeConfig();
      expect((await kc.makeApiClient(VersionApi).getCode()).gitVersion).toMatch(/^v1\./);
      const review = await kc.makeApiClient(AuthenticationV1Api).createTokenReview({ body: { spec: { token } } });
      expect(review.status?.user?.username).toBe(sa.username);
      // Another ServiceAccount without the binding may not: the credentials are really the pod's, not admin's.
      const [plain] = await ns.createServiceAccounts('plain');
      const plainCredentials = await (await ns.createPod('plain-0', { serviceAccount: plain })).inClusterCredentials();
      plainCredentials.stop();
      const attempt = plainCredentials
        .kubeConfig()
        .makeApiClient(AuthenticationV1Api)
        .createTokenReview({ body: { spec: { token } } });
      await expect(attempt).rejects.toSatisfy((error) => isApiError(error, 403));
    } finally {
      credentials.stop();
    }
  });
});
