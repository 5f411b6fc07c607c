import { createServer, type IncomingMessage } from 'node:http';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { VerifierEvent } from '../events.js';
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
} from '../../test/fake-issuer.js';
import { TokenReviewVerifier, type TokenReviewVerifierOptions } from './token-review.js';
import { tokenReviewClient } from '../kube/review-clients.js';

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
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: [AUDIENCE, 'data-store-v2'] },
      },
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
    client.answer = async () => ({
      authenticated: true,
      user: { username: 'kubernetes-admin', groups: ['system:masters'] },
      audiences: [AUDIENCE],
    });
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
    client.answer = () =>
      Promise.reject(
        new ApiException(403, 'Forbidden', { message: 'tokenreviews.authentication.k8s.io is forbidden' }, {}),
      );
    expect(await reasonOf(() => verifier.verify(token))).toBe('tokenreview_forbidden');
  });

  it('maps HTTP 500 to tokenreview_unavailable', async () => {
    const { verifier, client } = setup();
    client.answer = () =>
      Promise.reject(new ApiException(500, 'Internal Server Error', { message: 'etcdserver: request timed out' }, {}));
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

describe('TokenReviewVerifier: time-out aborts the request itself', () => {
  it('passes an abort signal that fires at the time-out', async () => {
    const { verifier, client } = setup({ timeoutMs: 30 });
    let signal: AbortSignal | undefined;
    client.createTokenReview = (_review, options) => {
      signal = options?.signal;
      return new Promise(() => {});
    };
    const error = await rejection(() => verifier.verify(token));
    expect(error.code).toBe('tokenreview_unavailable');
    expect(error.message).toContain('no answer within 30 ms');
    expect(signal?.aborted).toBe(true);
  });

  it('the default client (client-node) closes the HTTP connection of a timed-out review', async () => {
    const open = new Set<IncomingMessage>();
    let seen = 0;
    let closed = 0;
    const server = createServer((req) => {
      seen++;
      open.add(req);
      req.socket.on('close', () => {
        open.delete(req);
        closed++;
      });
      // Never answers: a hung API server.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
        users: [{ name: 'u', token: 'reviewer' }],
        contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
        currentContext: 'c',
      });
      const verifier = new TokenReviewVerifier({ client: tokenReviewClient(kc), audience: AUDIENCE, timeoutMs: 300 });
      const tokens = await Promise.all(
        Array.from({ length: 5 }, (_, i) => signToken(rsa, { claims: { jti: `abort-${i}` } })),
      );
      const reasons = await Promise.all(tokens.map((t) => reasonOf(() => verifier.verify(t))));
      expect(new Set(reasons)).toEqual(new Set(['tokenreview_unavailable']));
      // Every request that reached the server has its connection closed shortly after its time-out (the server never
      // answers, so nothing else would close them).
      for (let i = 0; i < 150 && (open.size > 0 || closed < seen); i++) await new Promise((r) => setTimeout(r, 20));
      expect(seen).toBeGreaterThan(0);
      expect([closed, open.size]).toEqual([seen, 0]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('TokenReviewVerifier: bound on reviews in flight', () => {
  it('answers tokenreview_overloaded past maxInflight distinct tokens, without calling the API server', async () => {
    const { verifier, client } = setup({ maxInflight: 3 });
    const release: Array<() => void> = [];
    client.answer = (review) =>
      new Promise((resolve) => release.push(() => resolve(reviewStatusFor(review.spec.token ?? ''))));
    const tokens = await Promise.all(
      Array.from({ length: 5 }, (_, i) => signToken(rsa, { claims: { jti: `cap-${i}` } })),
    );
    const pending = tokens.slice(0, 3).map((t) => verifier.verify(t));
    // A fourth request for a token already in flight shares its review and is not refused.
    const shared = verifier.verify(tokens[0] as string);
    expect(verifier.inflightReviews).toBe(3);
    const overloaded = await rejection(() => verifier.verify(tokens[3] as string));
    expect([overloaded.code, overloaded.kind]).toEqual(['tokenreview_overloaded', 'unavailable']);
    expect(client.requests).toHaveLength(3);
    for (const r of release) r();
    await Promise.all([...pending, shared]);
    client.answer = async (review) => reviewStatusFor(review.spec.token ?? '');
    // Not cached: once there is room, the same token is reviewed.
    expect((await verifier.verify(tokens[3] as string)).username).toBe('system:serviceaccount:api:api');
    expect(client.requests).toHaveLength(4);
  });
});

describe('TokenReviewVerifier: binding requirements (the identity model’s rules)', () => {
  it('refuses a review without node extras when a node binding is required', async () => {
    const { verifier } = setup({ requireNodeBinding: true });
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa, { node: null })))).toBe('claim_invalid');
    expect((await verifier.verify(token)).node).toEqual({ name: 'node-1', uid: 'node-uid-1' });
  });
});

describe('TokenReviewVerifier: option validation', () => {
  it.each([
    ['timeoutMs', Number.NaN],
    ['timeoutMs', 0],
    ['cacheTtlSeconds', -1],
    ['negativeCacheTtlSeconds', Number.POSITIVE_INFINITY],
    ['cacheMaxEntries', 1.5],
    ['maxInflight', 0],
    ['maxTokenBytes', -10],
  ] as const)('throws a TypeError naming %s for %s', (name, value) => {
    expect(() => setup({ [name]: value })).toThrow(TypeError);
    expect(() => setup({ [name]: value })).toThrow(new RegExp(`^${name} must be`));
  });
});
