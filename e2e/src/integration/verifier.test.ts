import {
  createKubeFetch,
  KubeAuthError,
  LocalVerifier,
  ServiceAccountVerifier,
  StaticTokenSource,
  TokenReviewVerifier,
  type VerifierEvent,
} from '@kube-service-auth/verifier';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../cases/http.js';
import { ClusterClient } from '../control-plane/cluster.js';
import { ControlPlane } from '../control-plane/control-plane.js';

// Every claim the verifier makes about Kubernetes, proven against a real kube-apiserver 1.36 and etcd.
let cp: ControlPlane;
let admin: ClusterClient;
let reviewerToken: string;
let podUid: string;
const events: VerifierEvent[] = [];

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toSatisfy((err: unknown) => err instanceof KubeAuthError && err.code === code);
}

/** The data store's view: fetches discovery and JWKS with its own ServiceAccount token and the cluster CA. */
function localVerifier(options: { clock?: () => number; cooldown?: number } = {}): LocalVerifier {
  return new LocalVerifier({
    issuers: [cp.issuer],
    audience: 'data-store',
    fetch: createKubeFetch({ caPem: cp.caPem, tokenSource: new StaticTokenSource(reviewerToken) }),
    requirePodBinding: true,
    clock: options.clock,
    jwks: { cooldown: options.cooldown ?? 30 },
    onEvent: (e) => events.push(e),
  });
}

function tokenReview(): TokenReviewVerifier {
  // As the data store: its own token, bound to system:auth-delegator.
  return new TokenReviewVerifier({ client: cp.kubeConfigForToken(reviewerToken), audience: 'data-store', cacheTtlSeconds: 0, negativeCacheTtlSeconds: 0 });
}

async function apiToken(audiences = ['data-store'], pod = { name: 'api', uid: podUid }, serviceAccount = 'api'): Promise<string> {
  return (await admin.requestToken({ namespace: 'api', serviceAccount, audiences, expirationSeconds: 600, pod })).token;
}

beforeAll(async () => {
  cp = await ControlPlane.start();
  admin = new ClusterClient(cp.kubeConfig());
  await admin.createNode('node-1');
  for (const ns of ['api', 'data-store']) await admin.applyNamespace(ns);
  await admin.createServiceAccount('api', 'api');
  await admin.createServiceAccount('api', 'intruder');
  await admin.createServiceAccount('data-store', 'data-store');
  await admin.bindAuthDelegator('data-store', 'data-store');
  podUid = await admin.createPod('api', 'api', 'api', { nodeName: 'node-1' });
  const storePod = await admin.createPod('data-store', 'app', 'data-store', { nodeName: 'node-1' });
  reviewerToken = (
    await admin.requestToken({ namespace: 'data-store', serviceAccount: 'data-store', expirationSeconds: 3600, pod: { name: 'app', uid: storePod } })
  ).token;
});

afterAll(async () => {
  await cp?.stop();
});

describe('local mode against the real API server', () => {
  it('discovers the JWKS through the issuer with a ServiceAccount token and the cluster CA, and accepts a TokenRequest token', async () => {
    const identity = await localVerifier().verify(await apiToken());
    expect(identity).toMatchObject({
      username: 'system:serviceaccount:api:api',
      namespace: 'api',
      serviceAccount: { name: 'api' },
      pod: { name: 'api', uid: podUid },
      node: { name: 'node-1' },
      audiences: ['data-store'],
      issuer: cp.issuer,
      verifiedBy: 'local',
    });
    expect(identity.serviceAccount.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('cannot fetch the key set anonymously: jwks_unavailable, not an invalid token', async () => {
    const anonymous = new LocalVerifier({ issuers: [cp.issuer], audience: 'data-store', fetch: createKubeFetch({ caPem: cp.caPem }) });
    await expectCode(anonymous.verify(await apiToken()), 'jwks_unavailable');
  });

  it('refuses a token for the API-server audience (the article replay)', async () => {
    await expectCode(localVerifier().verify(await apiToken([])), 'audience_mismatch');
  });

  it('refuses a token that is past exp plus the leeway, and accepts it just inside', async () => {
    const token = await apiToken();
    const exp = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp: number }).exp;
    await expectCode(localVerifier({ clock: () => (exp + 61) * 1000 }).verify(token), 'token_expired');
    await expect(localVerifier({ clock: () => (exp + 59) * 1000 }).verify(token)).resolves.toMatchObject({ namespace: 'api' });
  });

  it('accepts the token of another ServiceAccount as authentic (the policy, not the verifier, refuses it)', async () => {
    const uid = await admin.createPod('api', 'intruder', 'intruder', { nodeName: 'node-1' });
    const identity = await localVerifier().verify(await apiToken(['data-store'], { name: 'intruder', uid }, 'intruder'));
    expect(identity.username).toBe('system:serviceaccount:api:intruder');
  });

  it('requires a pod binding when configured: a token bound to no pod is refused', async () => {
    const unbound = (await admin.requestToken({ namespace: 'api', serviceAccount: 'api', audiences: ['data-store'], expirationSeconds: 600 })).token;
    await expectCode(localVerifier().verify(unbound), 'claim_invalid');
  });
});

describe('TokenReview mode against the real API server', () => {
  it('accepts a TokenRequest token and reports its pod and audiences', async () => {
    const identity = await tokenReview().verify(await apiToken());
    expect(identity).toMatchObject({
      username: 'system:serviceaccount:api:api',
      pod: { name: 'api', uid: podUid },
      node: { name: 'node-1' },
      audiences: ['data-store'],
      verifiedBy: 'tokenreview',
    });
  });

  it('refuses a token for another audience', async () => {
    await expectCode(tokenReview().verify(await apiToken(['billing'])), 'tokenreview_rejected');
  });

  it('maps a caller without system:auth-delegator to tokenreview_forbidden', async () => {
    const intruderUid = await admin.createPod('api', 'intruder-2', 'intruder', { nodeName: 'node-1' });
    const weak = (await admin.requestToken({ namespace: 'api', serviceAccount: 'intruder', pod: { name: 'intruder-2', uid: intruderUid } })).token;
    const verifier = new TokenReviewVerifier({ client: cp.kubeConfigForToken(weak), audience: 'data-store' });
    await expectCode(verifier.verify(await apiToken()), 'tokenreview_forbidden');
  });
});

describe('revocation', () => {
  it('a deleted pod: TokenReview and revocation-sensitive routes refuse its token, local mode still accepts it', async () => {
    const uid = await admin.createPod('api', 'doomed', 'api', { nodeName: 'node-1' });
    const token = await apiToken(['data-store'], { name: 'doomed', uid });
    const verifier = new ServiceAccountVerifier({ mode: 'local', local: localVerifier(), tokenReview: tokenReview() });
    await expect(verifier.verify(token, { revocationSensitive: true })).resolves.toMatchObject({ verifiedBy: 'tokenreview' });
    await admin.deletePod('api', 'doomed');
    const refused = await eventually(
      () => verifier.verify(token, { revocationSensitive: true }).then(() => false, (err: KubeAuthError) => err.code === 'tokenreview_rejected'),
      45_000,
    );
    expect(refused).toBe(true);
    await expect(verifier.verify(token)).resolves.toMatchObject({ verifiedBy: 'local' });
  });

  it('a pod recreated with the same name but a new uid: the old token is refused by TokenReview', async () => {
    const uid = await admin.createPod('api', 'phoenix', 'api', { nodeName: 'node-1' });
    const token = await apiToken(['data-store'], { name: 'phoenix', uid });
    await admin.deletePod('api', 'phoenix');
    await admin.createPod('api', 'phoenix', 'api', { nodeName: 'node-1' });
    const refused = await eventually(
      () => tokenReview().verify(token).then(() => false, (err: KubeAuthError) => err.code === 'tokenreview_rejected'),
      45_000,
    );
    expect(refused).toBe(true);
  });

  it('a ServiceAccount deleted and recreated (uid mismatch): TokenReview refuses, local mode cannot tell', async () => {
    await admin.createServiceAccount('api', 'ephemeral');
    const uid = await admin.createPod('api', 'ephemeral', 'ephemeral', { nodeName: 'node-1' });
    const token = await apiToken(['data-store'], { name: 'ephemeral', uid }, 'ephemeral');
    await admin.deleteServiceAccount('api', 'ephemeral');
    await admin.createServiceAccount('api', 'ephemeral');
    const refused = await eventually(
      () => tokenReview().verify(token).then(() => false, (err: KubeAuthError) => err.code === 'tokenreview_rejected'),
      45_000,
    );
    expect(refused).toBe(true);
    await expect(localVerifier().verify(token)).resolves.toMatchObject({ serviceAccount: { name: 'ephemeral' } });
  });
});

describe('key rotation', () => {
  it('a new signing key is picked up through one unknown-kid refetch; tokens of the old key stay valid', async () => {
    const verifier = localVerifier({ cooldown: 1 });
    const oldToken = await apiToken();
    await verifier.verify(oldToken);
    const fetchesBefore = events.filter((e) => e.type === 'jwks_fetch').length;

    await cp.restartApiServer({ signingKey: 'new' });
    const newToken = await apiToken();
    expect(decodeProtectedHeader(newToken).kid).not.toBe(decodeProtectedHeader(oldToken).kid);
    // The cooldown (1 s) since the first fetch has passed once the API server has restarted.
    await expect(verifier.verify(newToken)).resolves.toMatchObject({ namespace: 'api' });
    expect(events.filter((e) => e.type === 'jwks_fetch').length - fetchesBefore).toBe(1);
    await expect(verifier.verify(oldToken)).resolves.toMatchObject({ namespace: 'api' });
  });
});
