import express from 'express';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckedToken } from '../token/checked-token.js';
import { kubeAuth } from '../adapters/express.js';
import { LocalVerifier } from './local-verifier.js';
import { Policy } from '../authz/policy.js';
import { RequestAuthenticator } from '../adapters/request-authenticator.js';
import {
  AUDIENCE,
  base64url,
  craftToken,
  kubernetesClaims,
  fakeClock,
  FakeIssuer,
  FakeTokenReviewClient,
  generateTestKey,
  ISSUER,
  reasonOf,
  reviewStatusFor,
  signToken,
  type TestKey,
} from '../../test/fake-issuer.js';
import { TokenReviewVerifier } from './token-review.js';
import { ServiceAccountVerifier } from './service-account-verifier.js';

let rsa: TestKey;
let rsa2: TestKey;
beforeAll(async () => {
  rsa = await generateTestKey('RS256', 'rsa-1');
  rsa2 = await generateTestKey('RS256', 'rsa-2');
});

async function setup() {
  const issuer = new FakeIssuer({ keys: [rsa] });
  issuer.cacheControl = 'public, max-age=60';
  const clock = fakeClock();
  const local = new LocalVerifier({
    issuers: [ISSUER],
    audience: AUDIENCE,
    fetch: issuer.fetch,
    clock: clock.clock,
    jwks: { cooldown: 0 },
  });
  await local.warm();
  return { issuer, clock, local };
}

describe('verified cache: the key binds the whole token', () => {
  it("refuses a token whose payload was changed but which carries a cached valid token's signature", async () => {
    const { local } = await setup();
    const valid = await signToken(rsa);
    await local.verify(valid); // now cached
    const [header, payload, signature] = valid.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${header}.${base64url(JSON.stringify({ ...claims, sub: 'system:serviceaccount:kube-system:admin' }))}.${signature}`;
    expect(await reasonOf(() => local.verify(forged))).toBe('signature_invalid');
    // The same with a different header (kid kept): still a different token, still refused.
    const reheadered = `${base64url(JSON.stringify({ alg: 'RS256', kid: 'rsa-1', typ: 'at+jwt' }))}.${payload}.${signature}`;
    expect(await reasonOf(() => local.verify(reheadered))).toBe('signature_invalid');
  });
});

describe('verified cache: until exp while the key is held', () => {
  it('keeps an entry past the old 10 s TTL, and drops it once the key set no longer has its key', async () => {
    const { issuer, clock, local } = await setup();
    const token = await signToken(rsa, { lifetimeSeconds: 7200 });
    const first = await local.verify(token);
    clock.advance(1800);
    expect(local.check(token)).toBe(first); // a synchronous hit, 30 min later
    await new Promise((resolve) => setTimeout(resolve, 10)); // the refresh that hit started (the set was stale)
    issuer.keys = [rsa2];
    clock.advance(120);
    expect(local.check(token)).toBe(first); // still held; this hit starts a refresh behind the request
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(issuer.jwksCalls).toBe(3); // warm-up and the two refreshes behind hits
    // The refreshed set has no rsa-1: the cached result is no longer good, and the token is refused.
    expect(await reasonOf(() => local.verify(token))).toBe('key_not_found');
  });
});

describe('identities are immutable', () => {
  it('a cached identity cannot be changed by one request for the next', async () => {
    const { local } = await setup();
    const token = await signToken(rsa);
    const identity = await local.verify(token);
    expect(Object.isFrozen(identity)).toBe(true);
    expect(() => {
      (identity as { username: string }).username = 'system:serviceaccount:kube-system:admin';
    }).toThrow(TypeError);
    expect(() => identity.groups.push('system:masters')).toThrow(TypeError);
    expect(() => identity.expiresAt?.setTime(Date.now() + 1e12)).toThrow(TypeError);
    expect(() => {
      (identity.serviceAccount as { uid: string }).uid = 'x';
    }).toThrow(TypeError);
    expect((await local.verify(token)).username).toBe('system:serviceaccount:api:api');
  });

  it('req.kubeAuth is frozen in express', async () => {
    const { local } = await setup();
    const token = await signToken(rsa);
    const app = express();
    app.get(
      '/',
      kubeAuth({
        verifier: new ServiceAccountVerifier({ mode: 'local', local }),
        policy: new Policy({ allow: ['api:api'] }),
      }),
      (req, res) => {
        res.json({ frozen: Object.isFrozen(req.kubeAuth) && Object.isFrozen(req.kubeAuth?.identity) });
      },
    );
    const res = await request(app).get('/').set('Authorization', `Bearer ${token}`);
    expect(res.body).toEqual({ frozen: true });
  });
});

describe('RequestAuthenticator: the synchronous fast path', () => {
  it('answers a repeat caller synchronously with the same outcome object, and a first-seen token with a promise', async () => {
    const { local } = await setup();
    const core = new RequestAuthenticator({
      verifier: new ServiceAccountVerifier({ mode: 'local', local }),
      policy: new Policy({ allow: ['api:*'] }),
    });
    const token = await signToken(rsa);
    const first = core.authenticate(CheckedToken.from(token));
    // The key set is held, so even a first-seen token is checked on the calling thread.
    expect(first).not.toBeInstanceOf(Promise);
    const again = core.authenticate(CheckedToken.from(token));
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toBe(first);
    expect(again).toMatchObject({ allowed: true, result: { decision: { rule: 'system:serviceaccount:api:*' } } });
  });

  it('hashes a token at most once per request, even with a decision hook', async () => {
    const { local } = await setup();
    const token = await signToken(rsa);
    const hashes: string[] = [];
    const app = express();
    app.get(
      '/',
      kubeAuth({
        verifier: new ServiceAccountVerifier({ mode: 'local', local }),
        policy: new Policy({ allow: ['api:api'] }),
        onDecision: (event) => hashes.push(event.tokenHash ?? ''),
      }),
      (_req, res) => res.send('ok'),
    );
    let computed = 0;
    const descriptor = Object.getOwnPropertyDescriptor(CheckedToken.prototype, 'hash') as PropertyDescriptor;
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with .call(this)
    const original = descriptor.get as () => string;
    // Count real hash computations: the getter is cheap when memoised, so count the first read per instance.
    const seen = new WeakSet<object>();
    Object.defineProperty(CheckedToken.prototype, 'hash', {
      configurable: true,
      get(this: CheckedToken) {
        if (!seen.has(this)) {
          seen.add(this);
          computed++;
        }
        return original.call(this);
      },
    });
    try {
      await request(app).get('/').set('Authorization', `Bearer ${token}`).expect(200);
      await request(app).get('/').set('Authorization', `Bearer ${token}`).expect(200);
    } finally {
      Object.defineProperty(CheckedToken.prototype, 'hash', descriptor);
    }
    expect(computed).toBe(2); // one per request
    expect(hashes[0]).toBe(hashes[1]);
  });
});

describe('shape check deferred past the cache lookup', () => {
  it('serves a cached token without re-checking its shape, and refuses every altered spelling of it as before', async () => {
    const { local } = await setup();
    const token = await signToken(rsa);
    const reasons: Array<[string, string | undefined]> = [];
    const app = express();
    app.get(
      '/',
      kubeAuth({
        verifier: new ServiceAccountVerifier({ mode: 'local', local }),
        policy: new Policy({ allow: ['api:api'] }),
        onDecision: (event) => reasons.push([event.reason, event.tokenHash]),
      }),
      (_req, res) => res.send('ok'),
    );
    await request(app).get('/').set('Authorization', `Bearer ${token}`).expect(200); // now cached
    // A repeat caller reads only the hash: the shape check (value) is never run for a hit.
    const descriptor = Object.getOwnPropertyDescriptor(CheckedToken.prototype, 'value') as PropertyDescriptor;
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with .call(this)
    const original = descriptor.get as () => string;
    let shapeChecks = 0;
    Object.defineProperty(CheckedToken.prototype, 'value', {
      configurable: true,
      get(this: CheckedToken) {
        shapeChecks++;
        return original.call(this);
      },
    });
    try {
      await request(app).get('/').set('Authorization', `bearer   ${token}`).expect(200);
      expect(shapeChecks).toBe(0);
      // The cached token's string with anything added or changed is another token: not a hit, and refused for its
      // shape exactly as the eager check refused it.
      for (const altered of [
        `${token}=`,
        `${token}.`,
        `${token}.x`,
        `${token.slice(0, 20)}!${token.slice(21)}`,
        `${token}%20`,
      ]) {
        const res = await request(app).get('/').set('Authorization', `Bearer ${altered}`).expect(401);
        expect((res.body as { reason: string }).reason).toBe('token_malformed');
      }
      expect(shapeChecks).toBeGreaterThan(0);
    } finally {
      Object.defineProperty(CheckedToken.prototype, 'value', descriptor);
    }
    // Refusals for shape name no token hash (a malformed value is not a token); the accepted ones do.
    expect(
      reasons.slice(0, 2).every(([reason, hash]) => reason === 'identity_allowed' && typeof hash === 'string'),
    ).toBe(true);
    expect(reasons.slice(2)).toEqual(Array.from({ length: 5 }, () => ['token_malformed', undefined]));
  });

  it('checks the cheap things up front: two headers, a wrong scheme, an oversized token', () => {
    expect(() => CheckedToken.fromHeader(['Bearer a.b.c', 'Bearer a.b.c'], 'bearer')).toThrow(/more than one/);
    expect(() => CheckedToken.fromHeader('Basic a.b.c', 'bearer')).toThrow();
    expect(() => CheckedToken.fromHeader(`Bearer ${'a'.repeat(50)}.b.c`, 'bearer', 40)).toThrow();
    // Deferred: the value is checked on first read, and a malformed one says so.
    const deferred = CheckedToken.fromHeader('Bearer not a jws', 'bearer');
    expect(() => deferred.value).toThrow(/compact JWS|Bearer/);
    expect(deferred.malformed).toBe(true);
  });
});

describe('TokenReview cache: rejections bounded apart from successes', () => {
  it('keeps the valid caller cached under a flood of distinct rejected tokens', async () => {
    const client = new FakeTokenReviewClient();
    const valid = await signToken(rsa);
    client.answer = async (review) =>
      review.spec.token === valid ? reviewStatusFor(valid) : { authenticated: false, error: 'invalid bearer token' };
    const verifier = new TokenReviewVerifier({
      client,
      audience: AUDIENCE,
      cacheMaxEntries: 50,
      negativeCacheMaxEntries: 50,
      clock: fakeClock().clock,
    });
    let validRequests = 0;
    let hits = 0;
    for (let i = 0; i < 1000; i++) {
      const bogus = craftToken({ alg: 'RS256', kid: 'rsa-1' }, { ...kubernetesClaims(), jti: `flood-${i}` });
      expect(await reasonOf(() => verifier.verify(bogus))).toBe('tokenreview_rejected');
      if (i % 10 === 0) {
        validRequests++;
        if (!(verifier.check(valid) instanceof Promise)) hits++;
        await verifier.verify(valid);
      }
    }
    const validReviews = client.requests.filter((r) => r.spec.token === valid).length;
    expect(validReviews).toBe(1);
    expect(hits).toBe(validRequests - 1); // every valid request but the first was a cache hit
    expect(verifier.cacheSize).toBeLessThanOrEqual(51);
  });
});
