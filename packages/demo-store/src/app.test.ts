import { createKubeAuth, loadConfig, type FetchLike, type TokenReviewClient } from '@kube-service-auth/verifier';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { createStoreApp } from './app.js';
import { createMetrics } from './metrics.js';
import { MESSAGES } from './responses.js';

const ISSUER = 'https://issuer.test';
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let privateKey: PrivateKey;
let jwks: { keys: object[] };

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  privateKey = pair.privateKey;
  jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] };
});

function sign(ns: string, name: string, aud: string, options: { key?: PrivateKey } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    'kubernetes.io': {
      namespace: ns,
      serviceaccount: { name, uid: `uid-${name}` },
      pod: { name: `${name}-pod`, uid: `pod-uid-${name}` },
    },
  })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setSubject(`system:serviceaccount:${ns}:${name}`)
    .setAudience(aud)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 600)
    .sign(options.key ?? privateKey);
}

async function store(
  env: Record<string, string> = {},
  deps: { fetch?: FetchLike; tokenReviewClient?: TokenReviewClient } = {},
) {
  const fetch: FetchLike =
    deps.fetch ??
    (async () => ({
      status: 200,
      headers: new Headers({ 'cache-control': 'max-age=3600' }),
      text: async () => JSON.stringify(jwks),
    }));
  const config = loadConfig({
    K8S_AUTH_ISSUER: ISSUER,
    K8S_AUTH_JWKS_URI: `${ISSUER}/openid/v1/jwks`,
    K8S_AUTH_HEADER: 'x-client-id',
    K8S_AUTH_AUDIENCE: 'data-store',
    K8S_AUTH_ALLOWED_IDENTITIES: 'system:serviceaccount:api:api',
    K8S_AUTH_CA_FILE: 'none',
    K8S_AUTH_TOKEN_FILE: 'none',
    ...env,
  });
  const printed: string[] = [];
  const app = createStoreApp({
    auth: await createKubeAuth(config, {
      fetch,
      tokenReviewClient: deps.tokenReviewClient ?? {
        createTokenReview: () => Promise.reject(new Error('connect ECONNREFUSED')),
      },
    }),
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
    printReview: (text) => printed.push(text),
  });
  return { app, printed };
}

describe('data store (local mode)', () => {
  it('answers 200 and the article greeting to the API ServiceAccount, and prints the review without the token', async () => {
    const { app, printed } = await store();
    const token = await sign('api', 'api', 'data-store');
    const res = await request(app).get('/').set('X-Client-Id', token);
    expect(res.status).toBe(200);
    expect(res.text).toBe(MESSAGES.ok);
    const review = JSON.parse(printed[0] ?? '{}');
    expect(review).toMatchObject({
      authenticated: true,
      user: { username: 'system:serviceaccount:api:api' },
      audiences: ['data-store'],
    });
    expect(printed.join('')).not.toContain(token);
  });

  it('answers 401 "X-Client-Id not supplied" without the header', async () => {
    const res = await request((await store()).app).get('/');
    expect(res.status).toBe(401);
    expect(res.text).toBe(MESSAGES.missing);
  });

  it('answers 403 "Invalid token" to a token for another audience', async () => {
    const res = await request((await store()).app)
      .get('/')
      .set('X-Client-Id', await sign('api', 'api', 'https://kubernetes.default.svc'));
    expect(res.status).toBe(403);
    expect(res.text).toBe(MESSAGES.invalid);
    expect(res.headers['x-auth-reason']).toBe('audience_mismatch');
  });

  it('answers 403 "Invalid token" to a token signed by another key', async () => {
    const other = await generateKeyPair('RS256');
    const res = await request((await store()).app)
      .get('/')
      .set('X-Client-Id', await sign('api', 'api', 'data-store', { key: other.privateKey }));
    expect(res.status).toBe(403);
    expect(res.headers['x-auth-reason']).toBe('signature_invalid');
  });

  it('answers 403 "Invalid token" to a valid token of another ServiceAccount', async () => {
    const res = await request((await store()).app)
      .get('/')
      .set('X-Client-Id', await sign('api', 'intruder', 'data-store'));
    expect(res.status).toBe(403);
    expect(res.text).toBe(MESSAGES.invalid);
    expect(res.headers['x-auth-reason']).toBe('identity_not_allowed');
  });

  it('answers 503, not 403, when the key set cannot be fetched', async () => {
    const { app } = await store({}, { fetch: () => Promise.reject(new Error('connect ECONNREFUSED')) });
    const res = await request(app)
      .get('/')
      .set('X-Client-Id', await sign('api', 'api', 'data-store'));
    expect(res.status).toBe(503);
    expect(res.headers['x-auth-reason']).toBe('jwks_unavailable');
  });

  it('refuses /sensitive when TokenReview says the pod is gone, though / still accepts the token', async () => {
    const gone: TokenReviewClient = {
      createTokenReview: async (review) => ({
        spec: review.spec,
        status: { authenticated: false, error: 'pod not found' },
      }),
    };
    const { app } = await store({}, { tokenReviewClient: gone });
    const token = await sign('api', 'api', 'data-store');
    expect((await request(app).get('/').set('X-Client-Id', token)).status).toBe(200);
    const res = await request(app).get('/sensitive').set('X-Client-Id', token);
    expect(res.status).toBe(403);
    expect(res.headers['x-auth-reason']).toBe('tokenreview_rejected');
  });

  it('counts decisions by reason in /metrics', async () => {
    const { app } = await store();
    await request(app).get('/');
    const metrics = await request(app).get('/metrics');
    expect(metrics.text).toMatch(/kube_auth_decisions_total\{outcome="rejected",reason="token_missing"\} 1/);
  });

  it('is ready once it holds the key set, and not ready when it cannot fetch it', async () => {
    expect((await request((await store()).app).get('/readyz')).status).toBe(200);
    const down = await store({}, { fetch: () => Promise.reject(new Error('down')) });
    expect((await request(down.app).get('/readyz')).status).toBe(503);
  });
});

describe('data store (tokenreview mode)', () => {
  it('accepts what the API server authenticates for the data-store audience', async () => {
    const client: TokenReviewClient = {
      createTokenReview: async (review) => ({
        spec: review.spec,
        status: {
          authenticated: true,
          audiences: review.spec.audiences,
          // What the API server reports for the token `sign` makes (same ServiceAccount uid, pod extras).
          user: {
            username: 'system:serviceaccount:api:api',
            uid: 'uid-api',
            groups: ['system:serviceaccounts'],
            extra: {
              'authentication.kubernetes.io/pod-name': ['api-pod'],
              'authentication.kubernetes.io/pod-uid': ['pod-uid-api'],
            },
          },
        },
      }),
    };
    const { app, printed } = await store({ K8S_AUTH_MODE: 'tokenreview' }, { tokenReviewClient: client });
    const res = await request(app)
      .get('/')
      .set('X-Client-Id', await sign('api', 'api', 'data-store'));
    expect(res.status).toBe(200);
    expect(JSON.parse(printed[0] ?? '{}')).toMatchObject({ verifiedBy: 'tokenreview', audiences: ['data-store'] });
  });

  it('answers 503 when the API server cannot be reached', async () => {
    const { app } = await store({ K8S_AUTH_MODE: 'tokenreview' });
    const res = await request(app)
      .get('/')
      .set('X-Client-Id', await sign('api', 'api', 'data-store'));
    expect(res.status).toBe(503);
    expect(res.headers['x-auth-reason']).toBe('tokenreview_unavailable');
  });
});
