import express, { type Express } from 'express';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { KubeAuthError } from '../errors.js';
import { kubeAuth, type AuthDecisionEvent, type KubeAuthMiddlewareOptions } from './express.js';
import { LocalVerifier } from '../authn/local-verifier.js';
import { Policy } from '../authz/policy.js';
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

let rsa: TestKey;
let impostor: TestKey;
let good: string;
let forged: string;
let stranger: string;

beforeAll(async () => {
  rsa = await generateTestKey('RS256', 'rsa-1');
  impostor = await generateTestKey('RS256', 'rsa-1');
  good = await signToken(rsa);
  forged = await signToken(impostor);
  stranger = await signToken(rsa, { namespace: 'web', serviceAccount: 'frontend' });
});

function localVerifier(): Verifier {
  const time = fakeClock();
  const issuer = new FakeIssuer({ keys: [rsa] });
  const local = new LocalVerifier({ issuers: [ISSUER], audience: AUDIENCE, fetch: issuer.fetch, clock: time.clock });
  return stubVerifier({ verify: (token) => local.verify(token) });
}

function throwingVerifier(error: Error): Verifier {
  return stubVerifier({ verify: () => Promise.reject(error) });
}

function app(options: Partial<KubeAuthMiddlewareOptions> = {}): Express {
  const a = express();
  a.get(
    '/data',
    kubeAuth({
      verifier: localVerifier(),
      policy: new Policy({ allow: ['system:serviceaccount:api:api'] }),
      ...options,
    }),
    (req, res) => {
      res.json({ kubeAuth: req.kubeAuth });
    },
  );
  return a;
}

describe('kubeAuth middleware: default RFC 6750 answers', () => {
  it('lets an allowed caller through with req.kubeAuth set', async () => {
    const res = await request(app()).get('/data').set('Authorization', `Bearer ${good}`);
    expect(res.status).toBe(200);
    expect(res.body.kubeAuth.identity).toMatchObject({
      username: 'system:serviceaccount:api:api',
      namespace: 'api',
      verifiedBy: 'local',
    });
    expect(res.body.kubeAuth.decision).toEqual({
      allowed: true,
      reason: 'identity_allowed',
      rule: 'system:serviceaccount:api:api',
    });
  });

  it('refuses a request with two Authorization headers, even when the first is valid (token_malformed)', async () => {
    // superagent sends one header line per array item; its types only admit arrays for Cookie.
    const twoHeaders = [`Bearer ${good}`, 'Bearer garbage'] as unknown as string;
    const res = await request(app()).get('/data').set('Authorization', twoHeaders);
    expect(res.status).toBe(401);
    expect(res.body.reason).toBe('token_malformed');
  });

  it('answers a request without a token 401 with a bare Bearer challenge', async () => {
    const res = await request(app()).get('/data');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="kube-service-auth"');
    expect(res.body).toEqual({ error: 'unauthorized', reason: 'token_missing' });
  });

  it('uses the configured realm in the challenge', async () => {
    const res = await request(app({ realm: 'data-store' })).get('/data');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="data-store"');
  });

  it('answers a token with a bad signature 401 with error="invalid_token"', async () => {
    const res = await request(app()).get('/data').set('Authorization', `Bearer ${forged}`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="kube-service-auth", error="invalid_token", error_description="signature_invalid"',
    );
    expect(res.body).toEqual({ error: 'invalid_token', reason: 'signature_invalid' });
  });

  it('answers a malformed Authorization header 401 invalid_token / token_malformed', async () => {
    const res = await request(app()).get('/data').set('Authorization', `Basic ${good}`);
    expect(res.status).toBe(401);
    expect(res.body.reason).toBe('token_malformed');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('answers an authenticated caller that the policy does not allow 403', async () => {
    const res = await request(app()).get('/data').set('Authorization', `Bearer ${stranger}`);
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: 'forbidden', reason: 'identity_not_allowed' });
    expect(res.headers['www-authenticate']).toBeUndefined();
  });

  it('answers 503 with Retry-After when the key set is unavailable', async () => {
    const res = await request(app({ verifier: throwingVerifier(new KubeAuthError('jwks_unavailable')) }))
      .get('/data')
      .set('Authorization', `Bearer ${good}`);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body).toEqual({ error: 'temporarily_unavailable', reason: 'jwks_unavailable' });
  });

  it('answers 503 with Retry-After when TokenReview is forbidden to us', async () => {
    const res = await request(app({ verifier: throwingVerifier(new KubeAuthError('tokenreview_forbidden')) }))
      .get('/data')
      .set('Authorization', `Bearer ${good}`);
    expect(res.status).toBe(503);
    expect(res.body.reason).toBe('tokenreview_forbidden');
  });

  it('fails closed with 503 internal_error (never 2xx, never blamed on the API server) when the verifier throws something unexpected', async () => {
    const res = await request(app({ verifier: throwingVerifier(new TypeError('bug')) }))
      .get('/data')
      .set('Authorization', `Bearer ${good}`);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body).toEqual({ error: 'temporarily_unavailable', reason: 'internal_error' });
  });

  it('answers a misconfigured reason with 500 and no Retry-After', async () => {
    const res = await request(app({ verifier: throwingVerifier(new KubeAuthError('issuer_misconfigured')) }))
      .get('/data')
      .set('Authorization', `Bearer ${good}`);
    expect(res.status).toBe(500);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.body).toEqual({ error: 'server_error', reason: 'issuer_misconfigured' });
  });

  it('a throwing onDecision hook is reported once and is not relabelled as a verification failure', async () => {
    const decisions: string[] = [];
    const handler = app({
      onDecision: (event) => {
        decisions.push(`${event.outcome}:${event.reason}`);
        throw new Error('hook bug');
      },
    });
    handler.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ hookError: err.message });
    });
    const res = await request(handler).get('/data').set('Authorization', `Bearer ${good}`);
    expect(decisions).toEqual(['allowed:identity_allowed']);
    expect([res.status, res.body]).toEqual([500, { hookError: 'hook bug' }]);
  });

  it('a throwing onReject hook reaches express once, without a second decision', async () => {
    const decisions: string[] = [];
    const handler = app({
      onDecision: (event) => decisions.push(`${event.outcome}:${event.reason}`),
      onReject: () => {
        throw new Error('reject hook bug');
      },
    });
    handler.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ hookError: err.message });
    });
    const res = await request(handler).get('/data').set('Authorization', 'Bearer not-a-jwt');
    expect(decisions).toEqual(['rejected:token_malformed']);
    expect([res.status, res.body]).toEqual([500, { hookError: 'reject hook bug' }]);
  });

  it('passes revocationSensitive to the verifier', async () => {
    const seen: Array<VerifyOptions | undefined> = [];
    const inner = localVerifier();
    const verifier: Verifier = stubVerifier({
      verify: (token, options) => {
        seen.push(options);
        return inner.verify(token, options);
      },
    });
    await request(app({ verifier, revocationSensitive: true }))
      .get('/data')
      .set('Authorization', `Bearer ${good}`);
    expect(seen).toEqual([{ revocationSensitive: true }]);
  });
});

describe('kubeAuth middleware: a raw header and a custom answer (the article’s data store)', () => {
  const articleApp = () =>
    app({
      header: 'X-Client-Id',
      scheme: 'raw',
      onReject: (_req, res, error) => {
        if (error.code === 'token_missing') res.status(401).send('X-Client-Id not supplied');
        else res.status(403).send('Invalid token');
      },
    });

  it('accepts the bare token in X-Client-Id', async () => {
    const res = await request(articleApp()).get('/data').set('X-Client-Id', good);
    expect(res.status).toBe(200);
    expect(res.body.kubeAuth.identity.username).toBe('system:serviceaccount:api:api');
  });

  it('answers through onReject when the header is missing', async () => {
    const res = await request(articleApp()).get('/data');
    expect(res.status).toBe(401);
    expect(res.text).toBe('X-Client-Id not supplied');
  });

  it('answers through onReject for a bad token and for a caller that is not allowed', async () => {
    const bad = await request(articleApp()).get('/data').set('X-Client-Id', forged);
    expect([bad.status, bad.text]).toEqual([403, 'Invalid token']);
    const notAllowed = await request(articleApp()).get('/data').set('X-Client-Id', stranger);
    expect([notAllowed.status, notAllowed.text]).toEqual([403, 'Invalid token']);
  });

  it('ignores the Authorization header when another header is configured', async () => {
    const res = await request(articleApp()).get('/data').set('Authorization', `Bearer ${good}`);
    expect(res.status).toBe(401);
  });

  it('sends no Bearer challenge for a raw header with the default answers', async () => {
    const res = await request(app({ header: 'x-client-id' })).get('/data');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(res.body.reason).toBe('token_missing');
  });
});

describe('kubeAuth middleware: onDecision', () => {
  it('reports every outcome with the token hash and never the token itself', async () => {
    const events: AuthDecisionEvent[] = [];
    const a = app({ onDecision: (e) => events.push(e) });
    const bodies: string[] = [];
    for (const token of [good, forged, stranger]) {
      const res = await request(a).get('/data').set('Authorization', `Bearer ${token}`);
      bodies.push(res.text, JSON.stringify(res.headers));
    }
    const missing = await request(a).get('/data');
    bodies.push(missing.text);

    expect(events.map((e) => [e.outcome, e.reason])).toEqual([
      ['allowed', 'identity_allowed'],
      ['rejected', 'signature_invalid'],
      ['rejected', 'identity_not_allowed'],
      ['rejected', 'token_missing'],
    ]);
    expect(events.map((e) => e.tokenHash)).toEqual([
      tokenHash(good),
      tokenHash(forged),
      tokenHash(stranger),
      undefined,
    ]);
    expect(events[0]).toMatchObject({
      method: 'GET',
      path: '/data',
      identity: { username: 'system:serviceaccount:api:api' },
    });
    const everything = JSON.stringify(events) + bodies.join('');
    for (const token of [good, forged, stranger]) {
      expect(everything).not.toContain(token);
      expect(everything).not.toContain(token.split('.')[2]);
    }
  });
});

describe('kubeAuth middleware: declared routes', () => {
  it('refuses to build a revocation-sensitive middleware whose verifier cannot ask TokenReview', () => {
    const local = new LocalVerifier({
      issuers: [ISSUER],
      audience: AUDIENCE,
      fetch: new FakeIssuer({ keys: [rsa] }).fetch,
    });
    const verifier = new ServiceAccountVerifier({ mode: 'local', local });
    const policy = new Policy({ allow: ['api:api'] });
    expect(() => kubeAuth({ verifier, policy, revocationSensitive: true })).toThrow(/TokenReview/);
    expect(typeof kubeAuth({ verifier, policy })).toBe('function');
  });
});

describe('kubeAuth middleware: where req.kubeAuth lives', () => {
  it('is read in the handler, in a mounted app and after it, and on no other request or prototype', async () => {
    const policy = new Policy({ allow: ['api:api'] });
    const seen: Array<string | undefined> = [];
    const sub = express();
    sub.get('/inner', (req, res, next) => {
      seen.push(req.kubeAuth?.identity.username);
      next();
    });
    const outer = express();
    outer.get('/public', (req, res) => {
      res.json({ kubeAuth: req.kubeAuth ?? null });
    });
    outer.use(kubeAuth({ verifier: localVerifier(), policy }));
    outer.use('/sub', sub, (req, res) => {
      seen.push(req.kubeAuth?.identity.username);
      res.json({ own: Object.hasOwn(req, 'kubeAuth'), keys: Object.keys(req).includes('kubeAuth') });
    });
    const res = await request(outer).get('/sub/inner').set('authorization', `Bearer ${good}`);
    expect(res.status).toBe(200);
    expect(seen).toEqual(['system:serviceaccount:api:api', 'system:serviceaccount:api:api']);
    // Kept off the request object itself (see setKubeAuth), and off node's IncomingMessage.
    expect(res.body).toEqual({ own: false, keys: false });
    expect(Object.hasOwn((await import('node:http')).IncomingMessage.prototype, 'kubeAuth')).toBe(false);
    expect((await request(outer).get('/public')).body).toEqual({ kubeAuth: null });
  });

  it('overwrites a req.kubeAuth that earlier code assigned', async () => {
    const policy = new Policy({ allow: ['api:api'] });
    const server = express();
    server.get(
      '/data',
      (req, _res, next) => {
        req.kubeAuth = undefined;
        next();
      },
      kubeAuth({ verifier: localVerifier(), policy }),
      (req, res) => {
        res.json({ user: req.kubeAuth?.identity.username ?? null });
      },
    );
    const res = await request(server).get('/data').set('authorization', `Bearer ${good}`);
    expect(res.body).toEqual({ user: 'system:serviceaccount:api:api' });
  });

  it('lets code assign req.kubeAuth itself', async () => {
    const policy = new Policy({ allow: ['api:api'] });
    const server = express();
    server.get(
      '/data',
      kubeAuth({ verifier: localVerifier(), policy }),
      (req, _res, next) => {
        req.kubeAuth = undefined;
        next();
      },
      (req, res) => {
        res.json({ kubeAuth: req.kubeAuth ?? null });
      },
    );
    expect((await request(server).get('/data').set('authorization', `Bearer ${good}`)).body).toEqual({
      kubeAuth: null,
    });
  });
});
