import {
  createKubeFetch,
  KubeAuthError,
  LocalVerifier,
  ServiceAccountVerifier,
  StaticTokenSource,
  TokenReviewVerifier,
  type BindingRequirements,
  type ServiceAccountIdentity,
  type VerifierEvent,
} from '@kube-service-auth/verifier';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../cases/http.js';
import { payloadOf } from '../support/jwt.js';
import { ClusterClient, ControlPlane } from '@kube-service-auth/testing';

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
function localVerifier(
  options: { clock?: () => number; cooldown?: number; requirements?: BindingRequirements } = {},
): LocalVerifier {
  return new LocalVerifier({
    issuers: [cp.issuer],
    audience: 'data-store',
    fetch: createKubeFetch({ caPem: cp.caPem, tokenSource: new StaticTokenSource(reviewerToken) }),
    ...(options.requirements ?? { requirePodBinding: true }),
    clock: options.clock,
    jwks: { cooldown: options.cooldown ?? 30 },
    onEvent: (e) => events.push(e),
  });
}

function tokenReview(requirements: BindingRequirements = {}): TokenReviewVerifier {
  // As the data store: its own token, bound to system:auth-delegator.
  return new TokenReviewVerifier({
    client: cp.kubeConfigForToken(reviewerToken),
    audience: 'data-store',
    cacheTtlSeconds: 0,
    negativeCacheTtlSeconds: 0,
    ...requirements,
  });
}

async function apiToken(
  audiences = ['data-store'],
  pod = { name: 'api', uid: podUid },
  serviceAccount = 'api',
): Promise<string> {
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
    await admin.requestToken({
      namespace: 'data-store',
      serviceAccount: 'data-store',
      expirationSeconds: 3600,
      pod: { name: 'app', uid: storePod },
    })
  ).token;
});

afterAll(async () => {
  await cp?.stop();
});

/** True once `verify()` fails with `tokenreview_rejected`; polled, since the API server caches a success for 10 s. */
function eventuallyRejected(verify: () => Promise<unknown>): Promise<boolean> {
  return eventually(
    () =>
      verify().then(
        () => false,
        (err: KubeAuthError) => err.code === 'tokenreview_rejected',
      ),
    45_000,
  );
}

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
    const anonymous = new LocalVerifier({
      issuers: [cp.issuer],
      audience: 'data-store',
      fetch: createKubeFetch({ caPem: cp.caPem }),
    });
    await expectCode(anonymous.verify(await apiToken()), 'jwks_unavailable');
  });

  it('refuses a token for the API-server audience (the article replay)', async () => {
    await expectCode(localVerifier().verify(await apiToken([])), 'audience_mismatch');
  });

  it('refuses a token that is past exp plus the leeway, and accepts it just inside', async () => {
    const token = await apiToken();
    const exp = payloadOf(token).exp as number;
    await expectCode(localVerifier({ clock: () => (exp + 61) * 1000 }).verify(token), 'token_expired');
    await expect(localVerifier({ clock: () => (exp + 59) * 1000 }).verify(token)).resolves.toMatchObject({
      namespace: 'api',
    });
  });

  it('accepts the token of another ServiceAccount as authentic (the policy, not the verifier, refuses it)', async () => {
    const uid = await admin.createPod('api', 'intruder', 'intruder', { nodeName: 'node-1' });
    const identity = await localVerifier().verify(
      await apiToken(['data-store'], { name: 'intruder', uid }, 'intruder'),
    );
    expect(identity.username).toBe('system:serviceaccount:api:intruder');
  });

  it('requires a pod binding when configured: a token bound to no pod is refused', async () => {
    const unbound = (
      await admin.requestToken({
        namespace: 'api',
        serviceAccount: 'api',
        audiences: ['data-store'],
        expirationSeconds: 600,
      })
    ).token;
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
    const weak = (
      await admin.requestToken({
        namespace: 'api',
        serviceAccount: 'intruder',
        pod: { name: 'intruder-2', uid: intruderUid },
      })
    ).token;
    const verifier = new TokenReviewVerifier({ client: cp.kubeConfigForToken(weak), audience: 'data-store' });
    await expectCode(verifier.verify(await apiToken()), 'tokenreview_forbidden');
  });
});

describe('differential: local verification and TokenReview agree on every token the API server mints', () => {
  type Verdict =
    { verdict: 'accept'; identity: Omit<ServiceAccountIdentity, 'verifiedBy'> } | { verdict: 'reject'; code: string };
  const verdictOf = async (verify: () => Promise<ServiceAccountIdentity>): Promise<Verdict> => {
    try {
      const { verifiedBy: _by, ...identity } = await verify();
      return { verdict: 'accept', identity: { ...identity, groups: [...identity.groups].sort() } };
    } catch (err) {
      if (err instanceof KubeAuthError) return { verdict: 'reject', code: err.code };
      throw err;
    }
  };
  const requirementSets: Array<[string, BindingRequirements]> = [
    ['no binding required', {}],
    ['pod binding required', { requirePodBinding: true }],
    ['node binding required', { requireNodeBinding: true }],
    ['pod and node binding required', { requirePodBinding: true, requireNodeBinding: true }],
  ];

  it('pod-bound (with and without node), unbound, other ServiceAccount, wrong audience, API-server audience, forged: same verdict, same identity', async () => {
    const nodelessUid = await admin.createPod('api', 'nodeless', 'api');
    const intruderUid = await admin.createPod('api', 'intruder-diff', 'intruder', { nodeName: 'node-1' });
    const podBound = await apiToken();
    const [h, p] = podBound.split('.') as [string, string];
    const tokens: Array<[string, string, 'accept' | 'reject' | 'binding']> = [
      ['pod-bound, with node', podBound, 'accept'],
      ['pod-bound, without node', await apiToken(['data-store'], { name: 'nodeless', uid: nodelessUid }), 'binding'],
      [
        'unbound',
        (
          await admin.requestToken({
            namespace: 'api',
            serviceAccount: 'api',
            audiences: ['data-store'],
            expirationSeconds: 600,
          })
        ).token,
        'binding',
      ],
      [
        'another ServiceAccount',
        await apiToken(['data-store'], { name: 'intruder-diff', uid: intruderUid }, 'intruder'),
        'accept',
      ],
      ['wrong audience', await apiToken(['billing']), 'reject'],
      ['two audiences, ours second', await apiToken(['billing', 'data-store']), 'accept'],
      ['API-server audience (article variant 1)', await apiToken([]), 'reject'],
      [
        'forged: payload of a valid token, signature of another',
        `${h}.${p}.${(await apiToken(['billing'])).split('.')[2] ?? ''}`,
        'reject',
      ],
    ];
    const rows: string[] = [];
    for (const [requirementName, requirements] of requirementSets) {
      const local = localVerifier({ requirements });
      const review = tokenReview(requirements);
      for (const [tokenName, token, expected] of tokens) {
        const [offline, reviewed] = await Promise.all([
          verdictOf(() => local.verify(token)),
          verdictOf(() => review.verify(token)),
        ]);
        rows.push(`${requirementName} / ${tokenName}: local ${offline.verdict}, TokenReview ${reviewed.verdict}`);
        expect(reviewed.verdict, `${requirementName} / ${tokenName}`).toBe(offline.verdict);
        if (offline.verdict === 'accept' && reviewed.verdict === 'accept')
          expect(reviewed.identity).toEqual(offline.identity);
        if (expected !== 'binding') expect(offline.verdict, `${requirementName} / ${tokenName}`).toBe(expected);
      }
    }
    // The binding cases are decided by the requirements alone, identically in both modes.
    expect(rows).toContain('node binding required / pod-bound, without node: local reject, TokenReview reject');
    expect(rows).toContain('pod binding required / pod-bound, without node: local accept, TokenReview accept');
    expect(rows).toContain('pod binding required / unbound: local reject, TokenReview reject');
    expect(rows).toContain('no binding required / unbound: local accept, TokenReview accept');
  });

  it('the one expected difference: a deleted pod — TokenReview refuses, local verification cannot see it', async () => {
    const uid = await admin.createPod('api', 'diff-doomed', 'api', { nodeName: 'node-1' });
    const token = await apiToken(['data-store'], { name: 'diff-doomed', uid });
    await expect(tokenReview().verify(token)).resolves.toMatchObject({ pod: { uid } });
    await admin.deletePod('api', 'diff-doomed');
    const refused = await eventuallyRejected(() => tokenReview().verify(token));
    expect(refused).toBe(true);
    await expect(localVerifier().verify(token)).resolves.toMatchObject({ pod: { uid } });
  });
});

describe('revocation', () => {
  it('a deleted pod: TokenReview and revocation-sensitive routes refuse its token, local mode still accepts it', async () => {
    const uid = await admin.createPod('api', 'doomed', 'api', { nodeName: 'node-1' });
    const token = await apiToken(['data-store'], { name: 'doomed', uid });
    const verifier = new ServiceAccountVerifier({ mode: 'local', local: localVerifier(), tokenReview: tokenReview() });
    await expect(verifier.verify(token, { revocationSensitive: true })).resolves.toMatchObject({
      verifiedBy: 'tokenreview',
    });
    await admin.deletePod('api', 'doomed');
    const refused = await eventuallyRejected(() => verifier.verify(token, { revocationSensitive: true }));
    expect(refused).toBe(true);
    await expect(verifier.verify(token)).resolves.toMatchObject({ verifiedBy: 'local' });
  });

  it('a pod recreated with the same name but a new uid: the old token is refused by TokenReview', async () => {
    const uid = await admin.createPod('api', 'phoenix', 'api', { nodeName: 'node-1' });
    const token = await apiToken(['data-store'], { name: 'phoenix', uid });
    await admin.deletePod('api', 'phoenix');
    await admin.createPod('api', 'phoenix', 'api', { nodeName: 'node-1' });
    const refused = await eventuallyRejected(() => tokenReview().verify(token));
    expect(refused).toBe(true);
  });

  it('a ServiceAccount deleted and recreated (uid mismatch): TokenReview refuses, local mode cannot tell', async () => {
    await admin.createServiceAccount('api', 'ephemeral');
    const uid = await admin.createPod('api', 'ephemeral', 'ephemeral', { nodeName: 'node-1' });
    const token = await apiToken(['data-store'], { name: 'ephemeral', uid }, 'ephemeral');
    await admin.deleteServiceAccount('api', 'ephemeral');
    await admin.createServiceAccount('api', 'ephemeral');
    const refused = await eventuallyRejected(() => tokenReview().verify(token));
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
