import { execFileSync } from 'node:child_process';
import { VersionApi, type V1TokenReviewStatus } from '@kubernetes/client-node';
import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test/eventually.js';
import { ClusterClient, isApiError } from './cluster.js';
import { ControlPlane } from './control-plane.js';
import { httpsRequest } from './https.js';
import { signServiceAccountToken } from './tokens.js';

interface KubernetesClaims extends JWTPayload {
  'kubernetes.io'?: {
    namespace?: string;
    serviceaccount?: { name: string; uid: string };
    pod?: { name: string; uid: string };
    node?: { name: string; uid: string };
    warnafter?: number;
  };
}

const NS = 'cp-test';
const SA = 'app';

describe('ControlPlane', () => {
  let plane: ControlPlane;
  let cluster: ClusterClient;
  let saUid: string;

  beforeAll(async () => {
    plane = await ControlPlane.start();
    cluster = new ClusterClient(plane.kubeConfig());
    await cluster.applyNamespace(NS);
    saUid = await cluster.createServiceAccount(NS, SA);
  });

  afterAll(async () => {
    await plane?.stop();
  });

  const review = (token: string, audiences: string[]): Promise<V1TokenReviewStatus> =>
    cluster.tokenReview(token, audiences);

  it('reports the version it was built as', async () => {
    const version = await plane.kubeConfig().makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe('v1.36.3');
  });

  it('serves OIDC discovery and the JWKS to ServiceAccount tokens only', async () => {
    const { token } = await cluster.requestToken({ namespace: NS, serviceAccount: SA });
    const discovery = await httpsRequest(`${plane.issuer}/.well-known/openid-configuration`, {
      ca: plane.caPem,
      token,
    });
    expect(discovery.status).toBe(200);
    const doc = JSON.parse(discovery.body) as {
      issuer: string;
      jwks_uri: string;
      id_token_signing_alg_values_supported: string[];
    };
    expect(doc.issuer).toBe(plane.issuer);
    expect(doc.jwks_uri).toBe(`${plane.issuer}/openid/v1/jwks`);
    expect(doc.id_token_signing_alg_values_supported).toContain('RS256');

    const jwks = await httpsRequest(doc.jwks_uri, { ca: plane.caPem, token });
    expect(jwks.status).toBe(200);
    expect(jwks.headers['content-type']).toBe('application/jwk-set+json');
    expect(jwks.headers['cache-control']).toBe('public, max-age=3600');
    const keys = (JSON.parse(jwks.body) as { keys: { kid: string; alg: string; use: string }[] }).keys;
    expect(keys).toEqual([expect.objectContaining({ kid: plane.signingKey.keyId, alg: 'RS256', use: 'sig' })]);

    // Anonymous auth is on (as with kubeadm and kind): no credentials is an authorization failure, 403; a bad token
    // is an authentication failure, 401.
    const anonymous = await httpsRequest(doc.jwks_uri, { ca: plane.caPem });
    expect(anonymous.status).toBe(403);
    const forged = await httpsRequest(doc.jwks_uri, { ca: plane.caPem, token: `${token.slice(0, -4)}AAAA` });
    expect(forged.status).toBe(401);
  });

  it('ships the bootstrap RBAC that grants issuer discovery to all ServiceAccounts', async () => {
    const binding = await cluster.rbac.readClusterRoleBinding({ name: 'system:service-account-issuer-discovery' });
    expect(binding.roleRef.name).toBe('system:service-account-issuer-discovery');
    expect(binding.subjects).toEqual([expect.objectContaining({ kind: 'Group', name: 'system:serviceaccounts' })]);
  });

  it('mints pod-bound tokens that TokenReview accepts for the right audience only', async () => {
    const podUid = await cluster.createPod(NS, 'bound', SA);
    const { token, expirationTimestamp } = await cluster.requestToken({
      namespace: NS,
      serviceAccount: SA,
      audiences: ['data-store'],
      expirationSeconds: 600,
      pod: { name: 'bound', uid: podUid },
    });
    const claims = decodeJwt<KubernetesClaims>(token);
    expect(claims).toMatchObject({ iss: plane.issuer, aud: ['data-store'], sub: `system:serviceaccount:${NS}:${SA}` });
    expect(claims['kubernetes.io']).toMatchObject({
      namespace: NS,
      serviceaccount: { name: SA, uid: saUid },
      pod: { name: 'bound', uid: podUid },
    });
    expect(claims['kubernetes.io']?.node).toBeUndefined();
    expect(claims.nbf).toBe(claims.iat);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(600);
    expect(expirationTimestamp.getTime()).toBe((claims.exp ?? 0) * 1000);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', kid: plane.signingKey.keyId });

    const status = await review(token, ['data-store']);
    expect(status.authenticated).toBe(true);
    expect(status.audiences).toEqual(['data-store']);
    expect(status.user?.username).toBe(`system:serviceaccount:${NS}:${SA}`);
    expect(status.user?.uid).toBe(saUid);
    expect(status.user?.extra?.['authentication.kubernetes.io/pod-uid']).toEqual([podUid]);

    const wrongAudience = await review(token, ['someone-else']);
    expect(wrongAudience.authenticated).toBeFalsy();
  });

  it('rejects a pod-bound token in TokenReview once its pod is deleted', async () => {
    const podUid = await cluster.createPod(NS, 'doomed', SA);
    const { token } = await cluster.requestToken({
      namespace: NS,
      serviceAccount: SA,
      audiences: ['data-store'],
      pod: { name: 'doomed', uid: podUid },
    });
    expect((await review(token, ['data-store'])).authenticated).toBe(true);

    const deletedAt = Date.now();
    await cluster.deletePod(NS, 'doomed');
    // The API server caches successful authentications for 10 s.
    const rejected = await eventually(async () => !(await review(token, ['data-store'])).authenticated, 30_000);
    expect(rejected).toBe(true);
    expect(Date.now() - deletedAt).toBeLessThan(15_000);
  });

  it('adds node claims when the pod has a nodeName and the Node exists', async () => {
    const nodeUid = await cluster.createNode('worker-1');
    const podUid = await cluster.createPod(NS, 'scheduled', SA, { nodeName: 'worker-1' });
    const { token } = await cluster.requestToken({
      namespace: NS,
      serviceAccount: SA,
      audiences: ['data-store'],
      pod: { name: 'scheduled', uid: podUid },
    });
    expect(decodeJwt<KubernetesClaims>(token)['kubernetes.io']?.node).toEqual({ name: 'worker-1', uid: nodeUid });
    const status = await review(token, ['data-store']);
    expect(status.user?.extra?.['authentication.kubernetes.io/node-name']).toEqual(['worker-1']);
    expect(status.user?.extra?.['authentication.kubernetes.io/node-uid']).toEqual([nodeUid]);
    await cluster.deletePod(NS, 'scheduled');
  });

  it('refuses TokenRequests shorter than 10 minutes', async () => {
    const attempt = cluster.requestToken({ namespace: NS, serviceAccount: SA, expirationSeconds: 599 });
    await expect(attempt).rejects.toSatisfy((error) => isApiError(error, 422));
  });

  it('accepts self-signed tokens with any lifetime, within the 60 s leeway', async () => {
    const base = {
      issuer: plane.issuer,
      namespace: NS,
      serviceAccount: { name: SA, uid: saUid },
      audiences: ['data-store'],
    };
    const short = await signServiceAccountToken(plane.signingKey, { ...base, expiresInSeconds: 5 });
    expect(decodeProtectedHeader(short).kid).toBe(plane.signingKey.keyId);
    expect((await review(short, ['data-store'])).authenticated).toBe(true);
    const withinLeeway = await signServiceAccountToken(plane.signingKey, { ...base, expiresInSeconds: -30 });
    expect((await review(withinLeeway, ['data-store'])).authenticated).toBe(true);
    const expired = await signServiceAccountToken(plane.signingKey, { ...base, expiresInSeconds: -61 });
    expect((await review(expired, ['data-store'])).error).toMatch(/expired/);
    const otherUid = await signServiceAccountToken(plane.signingKey, {
      ...base,
      serviceAccount: { name: SA, uid: 'not-the-uid' },
    });
    expect((await review(otherUid, ['data-store'])).authenticated).toBeFalsy();
  });

  it('rejects tokens of a deleted ServiceAccount', async () => {
    await cluster.createServiceAccount(NS, 'short-lived');
    const { token } = await cluster.requestToken({
      namespace: NS,
      serviceAccount: 'short-lived',
      audiences: ['data-store'],
    });
    expect((await review(token, ['data-store'])).authenticated).toBe(true);
    await cluster.deleteServiceAccount(NS, 'short-lived');
    expect(await eventually(async () => !(await review(token, ['data-store'])).authenticated, 30_000)).toBe(true);
  });

  it('supports server-side dry-run apply', async () => {
    const manifest = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dry\n  namespace: ${NS}\ndata:\n  k: v\n`;
    const [dry] = await cluster.applyManifest(manifest, { dryRun: 'All' });
    expect(dry).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'dry' } });
    await expect(cluster.core.readNamespacedConfigMap({ namespace: NS, name: 'dry' })).rejects.toSatisfy((e) =>
      isApiError(e, 404),
    );
    await cluster.applyManifest(manifest);
    expect((await cluster.core.readNamespacedConfigMap({ namespace: NS, name: 'dry' })).data).toEqual({ k: 'v' });
  });

  it('opens no connection to a non-loopback address', () => {
    const pids = [plane.pids.apiServer, plane.pids.etcd];
    const sockets = execFileSync('ss', ['-Htuanp'], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => pids.some((pid) => line.includes(`pid=${pid},`)));
    expect(sockets.length).toBeGreaterThan(0);
    // Columns: netid state recv-q send-q local peer process.
    const addresses = sockets.flatMap((line) => line.trim().split(/\s+/).slice(4, 6));
    const nonLoopback = addresses.filter(
      (address) => !/^(127\.0\.0\.1|0\.0\.0\.0|\*|\[::ffff:127\.0\.0\.1\]):(\d+|\*)$/.test(address),
    );
    expect(nonLoopback).toEqual([]);
  });

  it('survives an API server outage on the same port', async () => {
    const { token } = await cluster.requestToken({ namespace: NS, serviceAccount: SA, audiences: ['data-store'] });
    await plane.stopApiServer();
    await expect(httpsRequest(`${plane.url}/readyz`, { ca: plane.caPem, ...plane.adminCredentials })).rejects.toThrow(
      /ECONNREFUSED/,
    );
    await plane.startApiServer();
    expect((await review(token, ['data-store'])).authenticated).toBe(true);
  });

  it('rotates the signing key, keeping tokens of the old key valid until that key is dropped', async () => {
    const oldKey = plane.signingKey;
    const { token: oldToken } = await cluster.requestToken({
      namespace: NS,
      serviceAccount: SA,
      audiences: ['data-store'],
    });

    await plane.restartApiServer({ signingKey: 'new' });
    expect(plane.signingKey.keyId).not.toBe(oldKey.keyId);
    expect(plane.publicKeyFiles).toEqual([plane.signingKey.publicKeyFile, oldKey.publicKeyFile]);
    expect((await review(oldToken, ['data-store'])).authenticated).toBe(true);
    const { token: newToken } = await cluster.requestToken({
      namespace: NS,
      serviceAccount: SA,
      audiences: ['data-store'],
    });
    expect(decodeProtectedHeader(newToken).kid).toBe(plane.signingKey.keyId);
    // A token for the API server's own audience, since this one calls the API server.
    const { token: apiToken } = await cluster.requestToken({ namespace: NS, serviceAccount: SA });
    const jwks = await httpsRequest(`${plane.issuer}/openid/v1/jwks`, { ca: plane.caPem, token: apiToken });
    const kids = (JSON.parse(jwks.body) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
    expect(kids.sort()).toEqual([oldKey.keyId, plane.signingKey.keyId].sort());

    await plane.restartApiServer({ extraPublicKeys: [] });
    expect((await review(oldToken, ['data-store'])).authenticated).toBeFalsy();
    expect((await review(newToken, ['data-store'])).authenticated).toBe(true);
  });
});
