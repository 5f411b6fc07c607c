import { request as httpRequest } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuthDecisionEvent } from './authenticate.js';
import { KubeAuthError } from '../errors.js';
import { fastifyKubeAuth, type FastifyKubeAuthOptions } from './fastify.js';
import { LocalVerifier } from '../authn/local-verifier.js';
import { Policy } from '../authz/policy.js';
import { SubjectAccessReviewer } from '../authz/subject-access-review.js';
import type { SubjectAccessReviewClient } from '../kube/review-clients.js';
import {
  AUDIENCE,
  fakeClock,
  FakeIssuer,
  generateTestKey,
  ISSUER,
  signToken,
  type TestKey,
} from '../../test/fake-issuer.js';
import { tokenHash } from '../token/hash.js';
import { type Verifier, type VerifyOptions } from '../authn/verifier.js';
import { ServiceAccountVerifier } from '../authn/service-account-verifier.js';
import { stubVerifier } from '../../test/stub-verifier.js';

// The plugin on a listening fastify 5 server on 127.0.0.1, called with fetch: the same answers as the express
// middleware (RFC 6750, reason codes), per-route options, request.kubeAuth.

let rsa: TestKey;
let good: string;
let forged: string;
let stranger: string;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  rsa = await generateTestKey('RS256', 'rsa-1');
  const impostor = await generateTestKey('RS256', 'rsa-1');
  good = await signToken(rsa);
  forged = await signToken(impostor);
  stranger = await signToken(rsa, { namespace: 'web', serviceAccount: 'frontend' });
});

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function localVerifier(seen?: Array<VerifyOptions | undefined>): Verifier {
  const issuer = new FakeIssuer({ keys: [rsa] });
  const local = new LocalVerifier({
    issuers: [ISSUER],
    audience: AUDIENCE,
    fetch: issuer.fetch,
    clock: fakeClock().clock,
  });
  return stubVerifier({
    verify: (token, options) => {
      seen?.push(options);
      return local.verify(token);
    },
  });
}

const throwing = (error: Error): Verifier => stubVerifier({ verify: () => Promise.reject(error) });

async function serve(options: Partial<FastifyKubeAuthOptions> = {}): Promise<string> {
  const app = Fastify();
  apps.push(app);
  await app.register(fastifyKubeAuth, {
    verifier: localVerifier(),
    policy: new Policy({ allow: ['api:api'] }),
    ...options,
  });
  app.get('/data', async (request) => ({ kubeAuth: request.kubeAuth }));
  app.get('/healthz', { config: { kubeAuth: false } }, async (request) => ({ ok: true, kubeAuth: request.kubeAuth }));
  app.get('/web', { config: { kubeAuth: { policy: new Policy({ allow: ['web:*'] }) } } }, async (request) => ({
    kubeAuth: request.kubeAuth,
  }));
  return app.listen({ host: '127.0.0.1', port: 0 });
}

async function call(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown> & { kubeAuth?: { identity: { username: string } } },
  };
}

describe('fastify plugin: the RFC 6750 answers of the express middleware', () => {
  it('lets an allowed caller through with request.kubeAuth set', async () => {
    const base = await serve();
    const res = await call(`${base}/data`, { authorization: `Bearer ${good}` });
    expect(res.status).toBe(200);
    expect(res.body.kubeAuth).toMatchObject({
      identity: { username: 'system:serviceaccount:api:api', verifiedBy: 'local' },
      decision: { allowed: true, reason: 'identity_allowed', rule: 'system:serviceaccount:api:api' },
    });
  });

  it('answers a missing token 401 with a bare challenge, a bad one 401 invalid_token, a stranger 403', async () => {
    const base = await serve({ realm: 'data-store' });
    const missing = await call(`${base}/data`);
    expect([missing.status, missing.headers.get('www-authenticate'), missing.body]).toEqual([
      401,
      'Bearer realm="data-store"',
      { error: 'unauthorized', reason: 'token_missing' },
    ]);
    const bad = await call(`${base}/data`, { authorization: `Bearer ${forged}` });
    expect([bad.status, bad.headers.get('www-authenticate'), bad.body]).toEqual([
      401,
      'Bearer realm="data-store", error="invalid_token", error_description="signature_invalid"',
      { error: 'invalid_token', reason: 'signature_invalid' },
    ]);
    const other = await call(`${base}/data`, { authorization: `Bearer ${stranger}` });
    expect([other.status, other.headers.get('www-authenticate'), other.body]).toEqual([
      403,
      null,
      { error: 'forbidden', reason: 'identity_not_allowed' },
    ]);
  });

  it('refuses two Authorization headers even when the first is valid (token_malformed)', async () => {
    const base = await serve();
    // node:http sends one field line per array item (fetch would join them into one line).
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        `${base}/data`,
        { headers: { authorization: [`Bearer ${good}`, 'Bearer x.y.z'] as unknown as string } },
        (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect([res.status, (JSON.parse(res.body) as { reason: string }).reason]).toEqual([401, 'token_malformed']);
  });

  it('answers 503 with Retry-After for an outage and for an unexpected failure (internal_error), never 2xx', async () => {
    for (const [error, reason] of [
      [new KubeAuthError('jwks_unavailable'), 'jwks_unavailable'],
      [new TypeError('bug'), 'internal_error'],
    ] as const) {
      const base = await serve({ verifier: throwing(error) });
      const res = await call(`${base}/data`, { authorization: `Bearer ${good}` });
      expect([res.status, res.headers.get('retry-after'), res.body]).toEqual([
        503,
        '5',
        { error: 'temporarily_unavailable', reason },
      ]);
    }
  });

  it('reads a raw token from a custom header, without a challenge', async () => {
    const base = await serve({ header: 'X-Client-Id' });
    expect((await call(`${base}/data`, { 'x-client-id': good })).status).toBe(200);
    const missing = await call(`${base}/data`, { authorization: `Bearer ${good}` });
    expect([missing.status, missing.headers.get('www-authenticate'), missing.body.reason]).toEqual([
      401,
      null,
      'token_missing',
    ]);
  });

  it('answers through onReject when given', async () => {
    const base = await serve({ onReject: (_req, reply, error) => void reply.code(418).send({ mine: error.code }) });
    const res = await call(`${base}/data`);
    expect([res.status, res.body]).toEqual([418, { mine: 'token_missing' }]);
  });
});

describe('fastify plugin: the synchronous fast path', () => {
  it('answers from an identity the verifier returns synchronously (a cache hit), without its promise path', async () => {
    const local = new LocalVerifier({
      issuers: [ISSUER],
      audience: AUDIENCE,
      fetch: new FakeIssuer({ keys: [rsa] }).fetch,
      clock: fakeClock().clock,
    });
    const identity = await local.verify(good);
    let checks = 0;
    const verifier: Verifier = stubVerifier({
      verify: () => Promise.reject(new Error('the promise path was used')),
      check: () => {
        checks++;
        return identity;
      },
    });
    const base = await serve({ verifier });
    for (let i = 0; i < 2; i++)
      expect((await call(`${base}/data`, { authorization: `Bearer ${good}` })).status).toBe(200);
    expect(checks).toBe(2);
  });
});

describe('fastify plugin: per-route options', () => {
  it('leaves a route with config.kubeAuth false public (request.kubeAuth null)', async () => {
    const base = await serve();
    const res = await call(`${base}/healthz`);
    expect([res.status, res.body]).toEqual([200, { ok: true, kubeAuth: null }]);
  });

  it('guards every route of its context: declared before the plugin, after it, and in child plugins', async () => {
    const app = Fastify();
    apps.push(app);
    app.get('/before', async () => 'open');
    void app.register(fastifyKubeAuth, { verifier: localVerifier(), policy: new Policy({ allow: ['*'] }) });
    app.get('/after', async () => 'open');
    void app.register(async (child) => {
      child.get('/child', async () => 'open');
    });
    await app.ready();
    for (const path of ['/before', '/after', '/child']) expect((await app.inject(path)).statusCode, path).toBe(401);
  });

  it("applies a route's own policy", async () => {
    const base = await serve();
    expect((await call(`${base}/web`, { authorization: `Bearer ${stranger}` })).status).toBe(200);
    expect((await call(`${base}/web`, { authorization: `Bearer ${good}` })).body).toEqual({
      error: 'forbidden',
      reason: 'identity_not_allowed',
    });
  });

  it('passes revocationSensitive to the verifier, per route and for the plugin', async () => {
    const seen: Array<VerifyOptions | undefined> = [];
    const app = Fastify();
    apps.push(app);
    await app.register(fastifyKubeAuth, { verifier: localVerifier(seen), policy: new Policy({ allow: ['api:api'] }) });
    app.get('/plain', async () => 'ok');
    app.get('/sensitive', { config: { kubeAuth: { revocationSensitive: true } } }, async () => 'ok');
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    await fetch(`${base}/plain`, { headers: { authorization: `Bearer ${good}` } });
    await fetch(`${base}/sensitive`, { headers: { authorization: `Bearer ${good}` } });
    expect(seen).toEqual([{ revocationSensitive: false }, { revocationSensitive: true }]);
  });
});

/** RBAC that grants `get` and nothing else; `down` makes every question fail as an unreachable API server would. */
function rbac(state: { down?: boolean } = {}): { reviewer: SubjectAccessReviewer; asked: string[] } {
  const asked: string[] = [];
  const client: SubjectAccessReviewClient = {
    async createSubjectAccessReview(review) {
      const attributes = review.spec?.resourceAttributes;
      asked.push(`${review.spec?.user ?? ''} ${attributes?.verb ?? ''} ${attributes?.resource ?? ''}`);
      if (state.down) throw new Error('connect ECONNREFUSED');
      return { ...review, status: { allowed: attributes?.verb === 'get' } };
    },
  };
  return { reviewer: new SubjectAccessReviewer({ client, allowTtlSeconds: 0, denyTtlSeconds: 0 }), asked };
}

describe('fastify plugin: SubjectAccessReview', () => {
  const READ = { verb: 'get', resource: 'records', group: 'data.example.com', namespace: 'data-store' };

  it("asks RBAC with each route's attributes (or the plugin's) once the policy allowed: 403 denied, 503 unavailable", async () => {
    const state: { down?: boolean } = {};
    const { reviewer, asked } = rbac(state);
    const app = Fastify();
    apps.push(app);
    await app.register(fastifyKubeAuth, {
      verifier: localVerifier(),
      policy: new Policy({ allow: ['api:api'] }),
      access: READ,
      accessReviewer: reviewer,
    });
    app.get('/records', async (request) => ({ user: request.kubeAuth?.identity.username }));
    app.delete('/records', { config: { kubeAuth: { access: { ...READ, verb: 'delete' } } } }, async () => ({
      deleted: true,
    }));
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const auth = { authorization: `Bearer ${good}` };
    expect(await call(`${base}/records`, auth)).toMatchObject({
      status: 200,
      body: { user: 'system:serviceaccount:api:api' },
    });
    const denied = await fetch(`${base}/records`, { method: 'DELETE', headers: auth });
    expect([denied.status, await denied.json()]).toEqual([
      403,
      { error: 'forbidden', reason: 'subjectaccessreview_denied' },
    ]);
    // A caller the policy refuses costs no SubjectAccessReview.
    expect((await call(`${base}/records`, { authorization: `Bearer ${stranger}` })).body).toEqual({
      error: 'forbidden',
      reason: 'identity_not_allowed',
    });
    expect(asked).toEqual([
      'system:serviceaccount:api:api get records',
      'system:serviceaccount:api:api delete records',
    ]);
    state.down = true;
    const down = await call(`${base}/records`, auth);
    expect([down.status, down.headers.get('retry-after'), down.body.reason]).toEqual([
      503,
      '5',
      'subjectaccessreview_unavailable',
    ]);
  });

  it('refuses at start-up a route with attributes and no reviewer to ask', async () => {
    const app = Fastify();
    apps.push(app);
    await app.register(fastifyKubeAuth, { verifier: localVerifier(), policy: new Policy({ allow: ['api:api'] }) });
    expect(() => app.get('/records', { config: { kubeAuth: { access: READ } } }, async () => 'ok')).toThrow(
      /accessReviewer/,
    );
  });

  it('refuses at start-up a revocation-sensitive route when the verifier cannot ask TokenReview', async () => {
    const local = new LocalVerifier({
      issuers: [ISSUER],
      audience: AUDIENCE,
      fetch: new FakeIssuer({ keys: [rsa] }).fetch,
    });
    const app = Fastify();
    apps.push(app);
    await app.register(fastifyKubeAuth, {
      verifier: new ServiceAccountVerifier({ mode: 'local', local }),
      policy: new Policy({ allow: ['api:api'] }),
    });
    app.get('/public-enough', async () => 'ok');
    expect(() => app.get('/delete', { config: { kubeAuth: { revocationSensitive: true } } }, async () => 'ok')).toThrow(
      /TokenReview/,
    );
  });
});

describe('fastify plugin: onDecision', () => {
  it('reports every outcome with the path and token hash, never the token', async () => {
    const events: AuthDecisionEvent[] = [];
    const base = await serve({ onDecision: (e) => events.push(e) });
    for (const token of [good, forged, stranger])
      await fetch(`${base}/data?x=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(events.map((e) => [e.outcome, e.reason, e.method, e.path, e.tokenHash])).toEqual([
      ['allowed', 'identity_allowed', 'GET', '/data', tokenHash(good)],
      ['rejected', 'signature_invalid', 'GET', '/data', tokenHash(forged)],
      ['rejected', 'identity_not_allowed', 'GET', '/data', tokenHash(stranger)],
    ]);
    expect(JSON.stringify(events)).not.toContain(good.split('.')[2]);
  });

  it('a throwing hook is the application error (500), never a pass', async () => {
    const base = await serve({
      onDecision: () => {
        throw new Error('hook bug');
      },
    });
    expect((await call(`${base}/data`, { authorization: `Bearer ${good}` })).status).toBe(500);
  });
});
