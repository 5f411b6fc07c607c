import {
  KubeAuthError,
  Policy,
  ServiceAccountVerifier,
  type ServiceAccountIdentity,
  type TokenReviewVerifier,
} from '@kube-service-auth/verifier';
import { exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signServiceAccountToken } from '@kube-service-auth/testing';
import { BAD_TOKENS, padTo, type Context } from './catalogue.js';
import { ALLOWED, attacker, Cluster, payloadOf, pollUntil, signCompact, type CountingReviewClient } from './fixture.js';
import { HitCounter } from './net.js';
import { expectAccepted, expectRejected, measure, outcomeOf, reportAfterAll } from './registry.js';

// Bad tokens against LocalVerifier configured for the real control plane, as the data store configures it. Every
// verifier here counts its key-set fetches (jwks_fetch events and the URLs it requests) and every TokenReview it sends,
// to show that a bad token costs the API server nothing in local mode, revocation-sensitive routes included.

reportAfterAll();

let cluster: Cluster;
let hits: HitCounter;
let ctx: Context;
let main: ReturnType<Cluster['localVerifier']>;
let reviews: CountingReviewClient;
let tokenReview: TokenReviewVerifier;
let verifier: ServiceAccountVerifier;

beforeAll(async () => {
  cluster = await Cluster.start();
  hits = await HitCounter.start({
    keys: [{ ...(await exportJWK(attacker.rsa.publicKey)), kid: 'attacker-key-1', alg: 'RS256', use: 'sig' }],
  });
  ctx = { cluster, attackerUrl: hits.url, valid: await cluster.token() };
  // An unknown kid may cost one refetch per cooldown (faults.test.ts counts that bound); with a cooldown longer than this
  // file, every key lookup after the first fetch is served from the cache, so any fetch below would be a bad token's.
  main = cluster.localVerifier({ jwks: { cooldown: 3600 } });
  reviews = cluster.reviewClient();
  // No result cache: every review the verifier wants reaches the API server (and is counted).
  tokenReview = cluster.tokenReviewVerifier(reviews, { cacheTtlSeconds: 0, negativeCacheTtlSeconds: 0 });
  verifier = new ServiceAccountVerifier({ mode: 'local', local: main.verifier, tokenReview });
});

afterAll(async () => {
  await hits?.stop();
  await cluster?.stop();
});

describe('real tokens (controls)', () => {
  it('accepts a TokenRequest token of the allowed caller locally, and on a revocation-sensitive route after one TokenReview', async () => {
    const identity = await expectAccepted('valid TokenRequest token (local verify)', () =>
      main.verifier.verify(ctx.valid),
    );
    expect(identity).toMatchObject({ username: ALLOWED, pod: cluster.pod('api'), verifiedBy: 'local' });
    const reviewed = await expectAccepted('valid TokenRequest token (revocation-sensitive verify)', () =>
      verifier.verify(ctx.valid, { revocationSensitive: true }),
    );
    expect(reviewed.verifiedBy).toBe('tokenreview');
    // The warm-up: one key-set fetch (discovery + JWKS) and one TokenReview. Bad tokens below add nothing to these.
    expect(main.fetches()).toBe(1);
    expect(main.net.urls).toEqual([
      `${cluster.issuer}/.well-known/openid-configuration`,
      `${cluster.issuer}/openid/v1/jwks`,
    ]);
    expect(reviews.count).toBe(1);
  });

  it('accepts an aud array that contains ours among others', async () => {
    const token = await cluster.token({ audiences: ['billing', 'data-store'] });
    const identity = await expectAccepted('aud array with ours among others (TokenRequest)', () =>
      main.verifier.verify(token),
    );
    expect(identity.audiences).toEqual(['data-store']);
  });

  it('ignores a jku header on a token signed with the real key: accepted, and the jku URL is never fetched', async () => {
    const token = await cluster.signWithClusterKey(await cluster.claims(), {
      jku: `${hits.url}/jwks.json`,
      x5u: `${hits.url}/x.pem`,
    });
    await expectAccepted('jku/x5u headers on an authentic token (ignored)', () => main.verifier.verify(token));
    expect(hits.hits).toBe(0);
  });

  it('accepts a real-key token of exactly the 8192-byte limit (8193 bytes: see the bad tokens)', async () => {
    const atLimit = await padTo(ctx, 8192);
    expect(atLimit.length).toBe(8192);
    await expectAccepted('token of exactly 8192 bytes (the limit)', () => main.verifier.verify(atLimit));
  });

  it('measures real TokenRequest tokens: all far below the 8192-byte limit', async () => {
    const sizes: Record<string, number> = {};
    sizes['default token (API-server audience, not pod-bound)'] = (
      await cluster.token({ audiences: [], pod: null })
    ).length;
    sizes['projected token for data-store, bound to pod and node'] = ctx.valid.length;
    // The longest names Kubernetes allows: namespace 63, ServiceAccount and pod 253 characters, node 63 (its name is
    // also its kubernetes.io/hostname label); three audiences.
    const ns = `n${'s'.repeat(61)}n`;
    const node = `n${'o'.repeat(61)}n`;
    const long = (c: string) => `${c}${'x'.repeat(251)}${c}`;
    await cluster.admin.applyNamespace(ns);
    await cluster.admin.createServiceAccount(ns, long('s'));
    await cluster.admin.createNode(node);
    // Created without the `app` label ClusterClient.createPod adds (a label value is at most 63 characters).
    const pod = await cluster.admin.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: long('p') },
        spec: {
          serviceAccountName: long('s'),
          nodeName: node,
          automountServiceAccountToken: false,
          containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    });
    const uid = pod.metadata?.uid as string;
    const worst = await cluster.admin.requestToken({
      namespace: ns,
      serviceAccount: long('s'),
      audiences: ['data-store', long('a'), long('b')],
      expirationSeconds: 86_400,
      pod: { name: long('p'), uid },
    });
    sizes[
      'longest names (namespace 63, ServiceAccount 253, pod 253, node 63) and three audiences (10/253/253 characters)'
    ] = worst.token.length;
    for (const [name, bytes] of Object.entries(sizes)) {
      measure(`real token size: ${name}`, bytes, 'bytes');
      expect(bytes).toBeLessThan(8192);
    }
    expect(
      sizes[
        'longest names (namespace 63, ServiceAccount 253, pod 253, node 63) and three audiences (10/253/253 characters)'
      ],
    ).toBeGreaterThan(sizes['projected token for data-store, bound to pod and node']);
  });
});

describe('bad tokens, local mode', () => {
  // A loop rather than it.each: vitest shortens interpolated values in test names, and the table names each test.
  for (const { name, reason, build } of BAD_TOKENS) {
    it(`${name} → ${reason}`, async () => {
      const token = await build(ctx);
      const before = { fetches: main.fetches(), urls: main.net.urls.length, reviews: reviews.count, hits: hits.hits };
      await expectRejected(name, reason, () => main.verifier.verify(token), {
        expected: 'refused in-process; 0 key fetches, 0 jku/x5u hits',
      });
      // Revocation-sensitive: verified locally first, so the same code, and no TokenReview is sent.
      await expectRejected(name, reason, () => verifier.verify(token, { revocationSensitive: true }), {
        expected: 'refused on revocation-sensitive verify; 0 TokenReviews',
      });
      expect({ fetches: main.fetches(), urls: main.net.urls.length, reviews: reviews.count, hits: hits.hits }).toEqual(
        before,
      );
    });
  }

  it('after every bad token: still one key-set fetch and one TokenReview in all (the warm-up), and no jku/x5u hit', () => {
    expect(main.fetches()).toBe(1);
    expect(main.net.urls).toHaveLength(2);
    expect(reviews.count).toBe(1);
    expect(hits.hits).toBe(0);
  });
});

describe('leeway edges (injected clock, real key)', () => {
  let now = 0;
  let timed: ReturnType<Cluster['localVerifier']>;
  let uid: string;
  const T = Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    now = T * 1000;
    timed = cluster.localVerifier({ clock: () => now, jwks: { cooldown: 3600 } });
    await timed.verifier.warm();
    uid = (await cluster.admin.core.readNamespacedServiceAccount({ namespace: 'api', name: 'api' })).metadata
      ?.uid as string;
  });

  const sign = (issuedAt: number, extra: Record<string, unknown> = {}) =>
    Object.keys(extra).length === 0
      ? signServiceAccountToken(cluster.cp.signingKey, {
          issuer: cluster.issuer,
          namespace: 'api',
          serviceAccount: { name: 'api', uid },
          audiences: ['data-store'],
          pod: cluster.pod('api'),
          node: cluster.node,
          issuedAt: new Date(issuedAt * 1000),
        })
      : cluster.claims(extra).then((claims) => cluster.signWithClusterKey(claims));

  async function at(seconds: number, run: () => Promise<unknown>) {
    now = seconds * 1000;
    try {
      return await run();
    } finally {
      now = T * 1000;
    }
  }

  it('exp: 61 s past is token_expired, 59 s past is accepted', async () => {
    const token = await sign(T - 600); // exp = T
    await expectRejected('expired 61 s ago (beyond the leeway)', 'token_expired', () =>
      at(T + 61, () => timed.verifier.verify(token)),
    );
    await expectAccepted('expired 59 s ago (inside the leeway)', () => at(T + 59, () => timed.verifier.verify(token)));
  });

  it('nbf (= iat, as the API server sets them): 61 s ahead is token_not_yet_valid, 59 s ahead is accepted', async () => {
    const token = await sign(T);
    await expectRejected('nbf and iat 61 s in the future (beyond the leeway)', 'token_not_yet_valid', () =>
      at(T - 61, () => timed.verifier.verify(token)),
    );
    await expectAccepted('nbf and iat 59 s in the future (inside the leeway)', () =>
      at(T - 59, () => timed.verifier.verify(token)),
    );
  });

  it('iat alone (nbf in the past): 61 s ahead is token_not_yet_valid, 59 s ahead is accepted', async () => {
    const token = await sign(T, { iat: T, nbf: T - 300, exp: T + 600 });
    await expectRejected('iat 61 s in the future, nbf in the past (beyond the leeway)', 'token_not_yet_valid', () =>
      at(T - 61, () => timed.verifier.verify(token)),
    );
    await expectAccepted('iat 59 s in the future, nbf in the past (inside the leeway)', () =>
      at(T - 59, () => timed.verifier.verify(token)),
    );
  });

  it('the API server agrees on the expired token: TokenReview refuses it too', async () => {
    const token = await sign(T - 720); // exp 120 s ago in real time
    await expectRejected('expired 120 s ago, presented in TokenReview mode', 'tokenreview_rejected', () =>
      tokenReview.verify(token),
    );
  });
});

describe('TokenReview mode: cost of bad tokens', () => {
  it('a token that is not a compact JWS (or too large) is refused before any TokenReview', async () => {
    const client = cluster.reviewClient();
    const reviewer = cluster.tokenReviewVerifier(client);
    for (const name of [
      'two segments',
      'space inside the token',
      'non-ASCII character in the payload segment',
      'one byte over the 8192-byte limit',
    ]) {
      const entry = BAD_TOKENS.find((t) => t.name === name);
      if (!entry) throw new Error(`no bad token ${name}`);
      await expectRejected(name, entry.reason, async () => reviewer.verify(await entry.build(ctx)), {
        expected: 'rejected in TokenReview mode; 0 TokenReviews',
      });
    }
    expect(client.count).toBe(0);
  });

  it('well-formed forgeries each cost one TokenReview (all rejected); a repeated one is answered from the 5 s negative cache', async () => {
    const client = cluster.reviewClient();
    const reviewer = cluster.tokenReviewVerifier(client);
    const { kid } = await cluster.signingKey();
    const claims = await cluster.claims();
    const forgeries = Array.from({ length: 50 }, (_, i) =>
      signCompact({ alg: 'RS256', kid }, { ...claims, jti: `forged-${i}` }, 'RS256', attacker.rsa.privateKey),
    );
    for (const token of forgeries) {
      await expectRejected(
        "RS256 signed by another key with the cluster's kid",
        'tokenreview_rejected',
        () => reviewer.verify(token),
        {
          expected: 'rejected in TokenReview mode; 1 TokenReview per distinct token',
        },
      );
    }
    expect(client.count).toBe(50);
    for (let i = 0; i < 50; i++) {
      await expectRejected(
        "RS256 signed by another key with the cluster's kid",
        'tokenreview_rejected',
        () => reviewer.verify(forgeries[0] as string),
        {
          expected: 'rejected in TokenReview mode; a repeat costs no TokenReview (negative cache)',
        },
      );
    }
    expect(client.count).toBe(50);
  });
});

describe('TokenReview mode: an answer for system:anonymous', () => {
  it('the API server authenticates a token with a leading space as system:anonymous, for our audience; the verifier refuses that answer', async () => {
    // The premise, observed on the real API server: it reads "Bearer  <token>" as no token at all and falls back to
    // the anonymous user, and answers authenticated=true with the requested audiences.
    const status = await cluster.admin.tokenReview(` ${ctx.valid}`, ['data-store']);
    expect(status).toMatchObject({
      authenticated: true,
      audiences: ['data-store'],
      user: { username: 'system:anonymous' },
    });
    // TokenReviewVerifier never sends such a token (its shape check refuses it first) ...
    const client = cluster.reviewClient();
    await expectRejected(
      'token with a leading space in TokenReview mode',
      'token_malformed',
      () => cluster.tokenReviewVerifier(client).verify(` ${ctx.valid}`),
      {
        expected: 'refused before any TokenReview',
      },
    );
    expect(client.count).toBe(0);
    // ... and if a sloppy client in between added the space, the anonymous answer is still refused: not a ServiceAccount.
    const sloppy = cluster.reviewClient();
    const reviewer = cluster.tokenReviewVerifier({
      createTokenReview: (review) =>
        sloppy.createTokenReview({ ...review, spec: { ...review.spec, token: ` ${review.spec.token}` } }),
    });
    await expectRejected(
      'TokenReview answers authenticated=true for system:anonymous (our audience)',
      'claim_invalid',
      () => reviewer.verify(ctx.valid),
      {
        expected: 'refused: the reviewed user is not a ServiceAccount',
      },
    );
    expect(sloppy.count).toBe(1);
  });
});

describe('Kubernetes-specific', () => {
  const policy = new Policy({ allow: [ALLOWED] });
  const authorize = async (token: string): Promise<ServiceAccountIdentity> => {
    const identity = await main.verifier.verify(token);
    if (!policy.decide(identity).allowed) throw new KubeAuthError('identity_not_allowed');
    return identity;
  };

  it('a token of another ServiceAccount is authentic (local verify accepts it) and refused by the policy: identity_not_allowed', async () => {
    const token = await cluster.token({ serviceAccount: 'intruder', pod: cluster.pod('intruder') });
    const identity = await main.verifier.verify(token);
    expect(identity.username).toBe('system:serviceaccount:api:intruder');
    await expectRejected(
      'token of another ServiceAccount (authentic, not allowed)',
      'identity_not_allowed',
      () => authorize(token),
      {
        expected: 'authenticated, then refused by the policy',
      },
    );
  });

  it('sub inconsistent with kubernetes.io: refused locally; the API server names the kubernetes.io identity, never the sub', async () => {
    const claims = await cluster.claims({}, { serviceAccount: 'intruder', pod: cluster.pod('intruder') });
    const token = await cluster.signWithClusterKey({ ...claims, sub: ALLOWED });
    await expectRejected('sub inconsistent with kubernetes.io serviceaccount (real key)', 'claim_invalid', () =>
      main.verifier.verify(token),
    );
    // What Kubernetes makes of the same token: whatever it answers, it must not be the identity that sub claims.
    const status = await cluster.admin.tokenReview(token, ['data-store']);
    expect(status.user?.username).not.toBe(ALLOWED);
  });

  it("a deleted pod's token: local mode cannot see it, TokenReview mode and revocation-sensitive verify refuse it", async () => {
    const doomed = await cluster.createPod('api', 'doomed', 'api');
    const token = await cluster.token({ pod: doomed });
    await expectAccepted('pod-bound token before its pod is deleted (revocation-sensitive verify)', () =>
      verifier.verify(token, { revocationSensitive: true }),
    );
    await cluster.admin.deletePod('api', 'doomed');
    // The API server caches successful authentications for 10 s: poll, do not sleep.
    const { value } = await pollUntil(
      () => outcomeOf(() => tokenReview.verify(token)),
      (o) => o.verdict === 'reject',
      45_000,
    );
    expect(value.verdict).toBe('reject');
    await expectRejected("deleted pod's token, TokenReview mode", 'tokenreview_rejected', () =>
      tokenReview.verify(token),
    );
    await expectRejected("deleted pod's token, revocation-sensitive verify", 'tokenreview_rejected', () =>
      verifier.verify(token, { revocationSensitive: true }),
    );
    await expectAccepted(
      "deleted pod's token, plain local verify (the documented limit of offline verification)",
      () => main.verifier.verify(token),
      { expected: 'accepted until exp (documented limit; use revocationSensitive)' },
    );
  });

  it("a deleted and recreated ServiceAccount's token (uid mismatch): TokenReview mode and revocation-sensitive verify refuse it", async () => {
    await cluster.admin.createServiceAccount('api', 'ephemeral');
    const pod = await cluster.createPod('api', 'ephemeral', 'ephemeral');
    const token = await cluster.token({ serviceAccount: 'ephemeral', pod });
    await expectAccepted('token of a ServiceAccount before it is recreated (revocation-sensitive verify)', () =>
      verifier.verify(token, { revocationSensitive: true }),
    );
    const oldUid = payloadOf(token)['kubernetes.io'] as { serviceaccount: { uid: string } };
    await cluster.admin.deleteServiceAccount('api', 'ephemeral');
    const newUid = await cluster.admin.createServiceAccount('api', 'ephemeral');
    expect(newUid).not.toBe(oldUid.serviceaccount.uid);
    const { value } = await pollUntil(
      () => outcomeOf(() => tokenReview.verify(token)),
      (o) => o.verdict === 'reject',
      45_000,
    );
    expect(value.verdict).toBe('reject');
    await expectRejected("recreated ServiceAccount's token, TokenReview mode", 'tokenreview_rejected', () =>
      tokenReview.verify(token),
    );
    await expectRejected("recreated ServiceAccount's token, revocation-sensitive verify", 'tokenreview_rejected', () =>
      verifier.verify(token, { revocationSensitive: true }),
    );
  });
});
