import { ApiException } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { VerifierEvent } from './events.js';
import {
  AUDIENCE,
  fakeClock,
  FakeTokenReviewClient,
  generateTestKey,
  ISSUER,
  reasonOf,
  rejection,
  reviewStatusFor,
  signToken,
  T0,
  type TestKey,
} from './test-support.js';
import { TokenReviewVerifier, type TokenReviewVerifierOptions } from './token-review.js';

let rsa: TestKey;
let token: string;

beforeAll(async () => {
  rsa = await generateTestKey('RS256', 'rsa-1');
  token = await signToken(rsa); // exp = T0 + 600 s
});

function setup(options: Partial<TokenReviewVerifierOptions> = {}) {
  const time = fakeClock();
  const client = new FakeTokenReviewClient();
  const events: VerifierEvent[] = [];
  const verifier = new TokenReviewVerifier({
    client,
    audience: AUDIENCE,
    clock: time.clock,
    onEvent: (e) => events.push(e),
    ...options,
  });
  return { time, client, verifier, events };
}

describe('TokenReviewVerifier: the review', () => {
  it('returns the identity the API server reports, with pod and node from user.extra, verified by tokenreview', async () => {
    const { verifier } = setup();
    expect(await verifier.verify(token)).toEqual({
      username: 'system:serviceaccount:api:api',
      namespace: 'api',
      serviceAccount: { name: 'api', uid: 'sa-uid-api-api' },
      pod: { name: 'api-7d4b9c-x2x9z', uid: 'pod-uid-1' },
      node: { name: 'node-1', uid: 'node-uid-1' },
      groups: ['system:serviceaccounts', 'system:serviceaccounts:api', 'system:authenticated'],
      audiences: [AUDIENCE],
      credentialId: 'jti-0b1c2d3e',
      issuer: ISSUER,
      issuedAt: new Date(T0),
      expiresAt: new Date(T0 + 600_000),
      verifiedBy: 'tokenreview',
    });
  });

  it('sends an authentication.k8s.io/v1 TokenReview with the token and our audiences in spec', async () => {
    const { verifier, client } = setup({ audience: [AUDIENCE, 'data-store-v2'] });
    await verifier.verify(token);
    expect(client.requests).toEqual([
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [AUDIENCE, 'data-store-v2'] } },
    ]);
  });

  it('rejects a token the API server does not authenticate with tokenreview_rejected', async () => {
    const { verifier, client } = setup();
    client.answer = async () => ({ authenticated: false, error: 'pod "api-7d4b9c-x2x9z" not found' });
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_rejected');
  });

  it('rejects a review without a status with tokenreview_rejected', async () => {
    const { verifier, client } = setup();
    client.answer = async () => undefined;
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_rejected');
  });

  it('rejects an authenticated review whose audiences lack ours with audience_mismatch', async () => {
    const { verifier, client } = setup();
    client.answer = async (review) => reviewStatusFor(review.spec.token ?? '', ['https://kubernetes.default.svc']);
    expect(await reasonOf(() => verifier.verify(token))).toBe('audience_mismatch');
  });

  it('rejects an authenticated review without status.audiences with audience_mismatch', async () => {
    const { verifier, client } = setup();
    client.answer = async (review) => ({ ...reviewStatusFor(review.spec.token ?? ''), audiences: undefined });
    expect(await reasonOf(() => verifier.verify(token))).toBe('audience_mismatch');
  });

  it('rejects a user that is not a ServiceAccount with claim_invalid', async () => {
    const { verifier, client } = setup();
    client.answer = async () => ({ authenticated: true, user: { username: 'kubernetes-admin', groups: ['system:masters'] }, audiences: [AUDIENCE] });
    const err = await rejection(() => verifier.verify(token));
    expect(err.code).toBe('claim_invalid');
    expect(err.claim).toBe('sub');
  });

  it('rejects a review without pod extras with claim_invalid when a pod binding is required', async () => {
    const { verifier } = setup({ requirePodBinding: true });
    const unbound = await signToken(rsa, { pod: null });
    expect(await reasonOf(() => verifier.verify(unbound))).toBe('claim_invalid');
  });

  it('accepts a pod-bound review when a pod binding is required', async () => {
    const { verifier } = setup({ requirePodBinding: true });
    expect((await verifier.verify(token)).pod).toEqual({ name: 'api-7d4b9c-x2x9z', uid: 'pod-uid-1' });
  });

  it('throws at construction without an audience', () => {
    expect(() => new TokenReviewVerifier({ client: new FakeTokenReviewClient(), audience: [] })).toThrow();
    expect(() => new TokenReviewVerifier({ client: new FakeTokenReviewClient(), audience: '' })).toThrow();
  });
});

describe('TokenReviewVerifier: API server failures', () => {
  it('maps HTTP 403 (no system:auth-delegator) to tokenreview_forbidden', async () => {
    const { verifier, client } = setup();
    client.answer = () => Promise.reject(new ApiException(403, 'Forbidden', { message: 'tokenreviews.authentication.k8s.io is forbidden' }, {}));
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_forbidden');
  });

  it('maps HTTP 500 to tokenreview_unavailable', async () => {
    const { verifier, client } = setup();
    client.answer = () => Promise.reject(new ApiException(500, 'Internal Server Error', { message: 'etcdserver: request timed out' }, {}));
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_unavailable');
  });

  it('maps a network error to tokenreview_unavailable', async () => {
    const { verifier, client } = setup();
    client.answer = () => Promise.reject(new Error('connect ECONNREFUSED 10.96.0.1:443'));
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_unavailable');
  });

  it('times out a review that never answers with tokenreview_unavailable', async () => {
    const { verifier, client } = setup({ timeoutMs: 20 });
    client.answer = () => new Promise(() => {});
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_unavailable');
  });

  it('does not cache an outage: the next call reviews again', async () => {
    const { verifier, client } = setup();
    client.answer = () => Promise.reject(new Error('connect ECONNREFUSED'));
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_unavailable');
    client.answer = async (review) => reviewStatusFor(review.spec.token ?? '');
    expect((await verifier.verify(token)).verifiedBy).toBe('tokenreview');
    expect(verifier.reviews).toBe(2);
  });
});

describe('TokenReviewVerifier: shape check before any review', () => {
  it.each([
    ['garbage', 'not a token'],
    ['two segments', 'abc.def'],
    ['an empty signature', 'abc.def.'],
  ])('rejects %s with token_malformed without calling the API server', async (_name, bad) => {
    const { verifier, client } = setup();
    expect(await reasonOf(() => verifier.verify(bad))).toBe('token_malformed');
    expect(client.requests).toEqual([]);
  });

  it('rejects an oversize token with token_too_large without calling the API server', async () => {
    const { verifier, client } = setup({ maxTokenBytes: 512 });
    expect(await reasonOf(() => verifier.verify(token))).toBe('token_too_large');
    expect(client.requests).toEqual([]);
  });
});

describe('TokenReviewVerifier: result cache and coalescing', () => {
  it('caches a successful review for cacheTtlSeconds', async () => {
    const { verifier, time } = setup({ cacheTtlSeconds: 10 });
    await verifier.verify(token);
    time.set(T0 + 9_999);
    await verifier.verify(token);
    expect(verifier.reviews).toBe(1);
    time.set(T0 + 10_000);
    await verifier.verify(token);
    expect(verifier.reviews).toBe(2);
  });

  it('never keeps a successful review past the token’s exp', async () => {
    const { verifier, time } = setup({ cacheTtlSeconds: 60 });
    const shortLived = await signToken(rsa, { lifetimeSeconds: 5 });
    await verifier.verify(shortLived);
    time.set(T0 + 4_999);
    await verifier.verify(shortLived);
    expect(verifier.reviews).toBe(1);
    time.set(T0 + 5_000);
    await verifier.verify(shortLived);
    expect(verifier.reviews).toBe(2);
  });

  it('caches a rejection for negativeCacheTtlSeconds', async () => {
    const { verifier, client, time } = setup({ negativeCacheTtlSeconds: 5 });
    client.answer = async () => ({ authenticated: false, error: 'pod not found' });
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_rejected');
    time.set(T0 + 4_999);
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_rejected');
    expect(verifier.reviews).toBe(1);
    time.set(T0 + 5_000);
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_rejected');
    expect(verifier.reviews).toBe(2);
  });

  it('does not cache rejections when negativeCacheTtlSeconds is 0', async () => {
    const { verifier, client } = setup({ negativeCacheTtlSeconds: 0 });
    client.answer = async () => ({ authenticated: false });
    await reasonOf(() => verifier.verify(token));
    await reasonOf(() => verifier.verify(token));
    expect(verifier.reviews).toBe(2);
  });

  it('does not cache successes when cacheTtlSeconds is 0', async () => {
    const { verifier } = setup({ cacheTtlSeconds: 0 });
    await verifier.verify(token);
    await verifier.verify(token);
    expect(verifier.reviews).toBe(2);
  });

  it('keeps different tokens apart in the cache', async () => {
    const { verifier, client } = setup();
    const other = await signToken(rsa, { namespace: 'web', serviceAccount: 'frontend' });
    client.answer = async (review) =>
      review.spec.token === other ? { authenticated: false } : reviewStatusFor(review.spec.token ?? '');
    expect((await verifier.verify(token)).namespace).toBe('api');
    expect(await reasonOf(() => verifier.verify(other))).toBe('tokenreview_rejected');
    expect(verifier.reviews).toBe(2);
  });

  it('sends one review for 1000 concurrent verifications of one token', async () => {
    const { verifier } = setup();
    const identities = await Promise.all(Array.from({ length: 1000 }, () => verifier.verify(token)));
    expect(new Set(identities.map((i) => i.username))).toEqual(new Set(['system:serviceaccount:api:api']));
    expect(verifier.reviews).toBe(1);
  });

  it('shares one failing review among concurrent verifications', async () => {
    const { verifier, client } = setup();
    client.answer = () => Promise.reject(new Error('connect ECONNREFUSED'));
    const codes = await Promise.all(Array.from({ length: 50 }, () => reasonOf(() => verifier.verify(token))));
    expect(new Set(codes)).toEqual(new Set(['tokenreview_unavailable']));
    expect(verifier.reviews).toBe(1);
  });
});

describe('TokenReviewVerifier: events', () => {
  it('reports reviews and cache lookups without ever including the token', async () => {
    const { verifier, client, events } = setup();
    await verifier.verify(token);
    await verifier.verify(token);
    client.answer = () => Promise.reject(new ApiException(500, 'Internal Server Error', { message: 'boom' }, {}));
    await reasonOf(() => verifier.verify(`${token}x`));
    expect(events.map((e) => e.type)).toEqual(['cache', 'token_review', 'cache', 'cache', 'token_review']);
    expect(events[1]).toMatchObject({ type: 'token_review', ok: true, authenticated: true });
    expect(events[4]).toMatchObject({ type: 'token_review', ok: false, reason: 'tokenreview_unavailable' });
    const serialized = JSON.stringify(events);
    expect(serialized).not.toContain(token.split('.')[2]);
  });
});
