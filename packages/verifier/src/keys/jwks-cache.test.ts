import { exportJWK, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { VerifierEvent } from '../events.js';
import type { FetchLike } from '../kube/http.js';
import type { VerificationKey } from './held-key.js';
import { JwksCache, type JwksCacheOptions } from './jwks-cache.js';
import { LocalVerifier } from '../authn/local-verifier.js';
import {
  AUDIENCE,
  fakeClock,
  FakeIssuer,
  generateTestKey,
  ISSUER,
  reasonOf,
  rejection,
  respond,
  settle,
  signToken,
  T0,
  type TestKey,
} from '../../test/fake-issuer.js';

let rsa: TestKey;
let rsa2: TestKey;
let ec: TestKey;

beforeAll(async () => {
  rsa = await generateTestKey('RS256', 'rsa-1');
  rsa2 = await generateTestKey('RS256', 'rsa-2');
  ec = await generateTestKey('ES256', 'ec-1');
});

function setup(options: Partial<JwksCacheOptions> = {}, keys: Array<TestKey | JWK> = [rsa, ec]) {
  const time = fakeClock();
  const issuer = new FakeIssuer({ keys });
  const events: VerifierEvent[] = [];
  // unknownKidWaitMs 0: the injected clock stands still, so a wait for the next refetch would be a real-time sleep.
  // The tests of that wait set it explicitly.
  const cache = new JwksCache({
    issuer: ISSUER,
    fetch: issuer.fetch,
    clock: time.clock,
    onEvent: (e) => events.push(e),
    unknownKidWaitMs: 0,
    ...options,
  });
  return { time, issuer, cache, events };
}

/** `public` for an imported public key; `secret` would mean symmetric material (never expected). */
function keyType(key: VerificationKey): string {
  return key instanceof Uint8Array ? 'secret' : key.type;
}

function randomKid(): string {
  return `kid-${Math.random().toString(36).slice(2)}`;
}

describe('JwksCache: fetching', () => {
  it('on a cold start reads the discovery document, then the advertised jwks_uri, and returns the key', async () => {
    const { cache, issuer } = setup();
    const key = await cache.getKey(rsa.kid, 'RS256');
    expect(keyType(key)).toBe('public');
    expect(issuer.calls).toEqual([issuer.discoveryUrl, issuer.jwksUri]);
    expect(cache.fetches).toBe(1);
  });

  it('with a jwksUri override fetches the key set directly, without discovery', async () => {
    const time = fakeClock();
    const issuer = new FakeIssuer({ keys: [rsa], jwksUri: 'https://kubernetes.default.svc/openid/v1/jwks' });
    const cache = new JwksCache({ issuer: ISSUER, jwksUri: issuer.jwksUri, fetch: issuer.fetch, clock: time.clock });
    await cache.getKey(rsa.kid, 'RS256');
    expect(issuer.calls).toEqual(['https://kubernetes.default.svc/openid/v1/jwks']);
  });

  it('rejects a discovery document that names another issuer with jwks_unavailable, fetching no key set', async () => {
    const { cache, issuer } = setup();
    issuer.discoveryIssuer = 'https://evil.example';
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS256'))).toBe('jwks_unavailable');
    expect(issuer.jwksCalls).toBe(0);
  });

  it('does not follow a discovered jwks_uri on another origin (it would receive our token): issuer_misconfigured, a 500', async () => {
    const time = fakeClock();
    const issuer = new FakeIssuer({ keys: [rsa], jwksUri: 'https://172.18.0.2:6443/openid/v1/jwks' });
    const cache = new JwksCache({ issuer: ISSUER, fetch: issuer.fetch, clock: time.clock });
    const error = await rejection(() => cache.getKey(rsa.kid, 'RS256'));
    expect(error.code).toBe('issuer_misconfigured');
    expect(error.kind).toBe('misconfigured');
    expect(error.message).toContain('K8S_AUTH_JWKS_URI');
    expect(issuer.calls).toEqual([issuer.discoveryUrl]);
  });

  it('rejects a discovery document whose jwks_uri is not an http(s) URL with jwks_unavailable', async () => {
    const time = fakeClock();
    const fetch: FetchLike = async () =>
      respond({ status: 200, body: { issuer: ISSUER, jwks_uri: 'file:///etc/passwd' } });
    const cache = new JwksCache({ issuer: ISSUER, fetch, clock: time.clock });
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS256'))).toBe('jwks_unavailable');
  });

  it('remembers the discovered jwks_uri: a later refresh does not repeat discovery', async () => {
    const { cache, issuer, time } = setup();
    await cache.refresh();
    time.advance(3600);
    await cache.refresh();
    expect(issuer.calls).toEqual([issuer.discoveryUrl, issuer.jwksUri, issuer.jwksUri]);
  });

  it('coalesces concurrent cold-start lookups into one discovery and one key-set request', async () => {
    const { cache, issuer } = setup();
    const keys = await Promise.all(
      Array.from({ length: 100 }, (_, i) => cache.getKey(i % 2 ? rsa.kid : ec.kid, i % 2 ? 'RS256' : 'ES256')),
    );
    expect(keys).toHaveLength(100);
    expect(issuer.calls).toEqual([issuer.discoveryUrl, issuer.jwksUri]);
  });

  it('ensure() fetches on a cold start only: a warm cache answers readiness without a request', async () => {
    const { cache, issuer, time } = setup();
    await cache.ensure();
    await cache.ensure();
    expect(issuer.jwksCalls).toBe(1);
    time.advance(3600 * 3);
    await cache.ensure();
    expect(issuer.jwksCalls).toBe(2);
  });

  it('imports a key once per kid and algorithm', async () => {
    const { cache } = setup();
    const first = await cache.getKey(rsa.kid, 'RS256');
    const second = await cache.getKey(rsa.kid, 'RS256');
    expect(second).toBe(first);
  });

  it('reports a successful fetch as a jwks_fetch event with the key count and max-age', async () => {
    const { cache, events } = setup();
    await cache.refresh();
    expect(events).toEqual([
      expect.objectContaining({ type: 'jwks_fetch', issuer: ISSUER, ok: true, keys: 2, maxAgeSeconds: 3600 }),
    ]);
  });
});

describe('JwksCache: freshness (Cache-Control)', () => {
  it('does not refetch while the key set is within max-age', async () => {
    const { cache, issuer, time } = setup();
    issuer.cacheControl = 'public, max-age=120';
    await cache.getKey(rsa.kid, 'RS256');
    time.set(T0 + 119_999);
    await cache.getKey(rsa.kid, 'RS256');
    await settle();
    expect(issuer.jwksCalls).toBe(1);
  });

  it('after max-age serves the stale key at once and refreshes in the background', async () => {
    const { cache, issuer, time, events } = setup();
    issuer.cacheControl = 'public, max-age=120';
    await cache.getKey(rsa.kid, 'RS256');
    issuer.keys = [rsa, rsa2];
    time.set(T0 + 120_000);
    await cache.getKey(rsa.kid, 'RS256');
    expect(events.some((e) => e.type === 'jwks_stale')).toBe(true);
    await settle();
    expect(issuer.jwksCalls).toBe(2);
    // The refreshed set is in use: the new key is found without another request.
    await cache.getKey(rsa2.kid, 'RS256');
    expect(issuer.jwksCalls).toBe(2);
  });

  it('clamps a large max-age to maxMaxAge', async () => {
    const { cache, issuer, time, events } = setup({ maxMaxAge: 600 });
    issuer.cacheControl = 'max-age=999999';
    await cache.getKey(rsa.kid, 'RS256');
    expect(events[0]).toMatchObject({ type: 'jwks_fetch', ok: true, maxAgeSeconds: 600 });
    time.set(T0 + 599_999);
    await cache.getKey(rsa.kid, 'RS256');
    await settle();
    expect(issuer.jwksCalls).toBe(1);
    time.set(T0 + 600_000);
    await cache.getKey(rsa.kid, 'RS256');
    await settle();
    expect(issuer.jwksCalls).toBe(2);
  });

  it('clamps a small max-age to minMaxAge', async () => {
    const { cache, issuer, time, events } = setup({ minMaxAge: 10 });
    issuer.cacheControl = 'max-age=1';
    await cache.getKey(rsa.kid, 'RS256');
    expect(events[0]).toMatchObject({ maxAgeSeconds: 10 });
    time.set(T0 + 9_999);
    await cache.getKey(rsa.kid, 'RS256');
    await settle();
    expect(issuer.jwksCalls).toBe(1);
    time.set(T0 + 10_000);
    await cache.getKey(rsa.kid, 'RS256');
    await settle();
    expect(issuer.jwksCalls).toBe(2);
  });

  it('treats no-store as the minimum freshness', async () => {
    const { cache, issuer, events } = setup({ minMaxAge: 10 });
    issuer.cacheControl = 'no-store';
    await cache.refresh();
    expect(events[0]).toMatchObject({ maxAgeSeconds: 10 });
  });

  it('uses defaultMaxAge without Cache-Control', async () => {
    const { cache, issuer, events } = setup({ defaultMaxAge: 300 });
    issuer.cacheControl = undefined;
    await cache.refresh();
    expect(events[0]).toMatchObject({ maxAgeSeconds: 300 });
  });
});

describe('JwksCache: option validation', () => {
  it.each([
    ['cooldown', -1],
    ['timeoutMs', 0],
    ['maxStaleness', Number.NaN],
    ['defaultMaxAge', Number.POSITIVE_INFINITY],
    ['unknownKidWaitMs', -5],
  ] as const)('throws a TypeError naming %s for %s', (name, value) => {
    expect(() => new JwksCache({ issuer: ISSUER, fetch: async () => respond({ status: 500 }), [name]: value })).toThrow(
      new RegExp(`^${name} must be`),
    );
    expect(() => new JwksCache({ issuer: ISSUER, fetch: async () => respond({ status: 500 }), [name]: value })).toThrow(
      TypeError,
    );
  });
});

describe('JwksCache: unknown kid', () => {
  it('refetches exactly once for an unknown kid once the cooldown since the last fetch has passed', async () => {
    const { cache, issuer, time } = setup({ cooldown: 30 });
    await cache.refresh();
    time.advance(30);
    expect(await reasonOf(() => cache.getKey('unknown', 'RS256'))).toBe('key_not_found');
    expect(issuer.jwksCalls).toBe(2);
    expect(await reasonOf(() => cache.getKey('unknown', 'RS256'))).toBe('key_not_found');
    expect(issuer.jwksCalls).toBe(2);
  });

  it('refuses at once, without a fetch, an unknown kid whose next allowed refetch is further away than the wait bound', async () => {
    const { cache, issuer, time } = setup({ cooldown: 30, unknownKidWaitMs: 5000 });
    await cache.refresh();
    time.advance(20); // the next refetch is 10 s away: more than 5 s
    const error = await rejection(() => cache.getKey('unknown', 'RS256'));
    expect(error.code).toBe('key_not_found');
    expect(error.message).toContain('10 s away');
    expect(issuer.jwksCalls).toBe(1);
  });

  it('finds a key that appeared in the key set (rotation) with one refetch', async () => {
    const { cache, issuer, time } = setup({}, [rsa]);
    await cache.refresh();
    issuer.keys = [rsa, rsa2];
    time.advance(30);
    expect(keyType(await cache.getKey(rsa2.kid, 'RS256'))).toBe('public');
    expect(issuer.jwksCalls).toBe(2);
  });

  it('rotation within the cooldown: a new kid waits for the next refetch the cooldown allows and is found', async () => {
    const { cache, issuer, time } = setup({ cooldown: 30, unknownKidWaitMs: 5000 }, [rsa]);
    await cache.refresh();
    issuer.keys = [rsa, rsa2];
    time.advance(29.8); // the cooldown allows the next refetch in 200 ms (real time: the timer is not faked)
    const started = performance.now();
    expect(keyType(await cache.getKey(rsa2.kid, 'RS256'))).toBe('public');
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(issuer.jwksCalls).toBe(2);
  });

  it('lets a flood of 1000 concurrent random kids cause at most one fetch per cooldown, waiting ones included', async () => {
    const { cache, issuer, time } = setup({ cooldown: 30, unknownKidWaitMs: 5000 });
    await cache.refresh();
    time.advance(30);
    const flood = () =>
      Promise.all(Array.from({ length: 1000 }, () => reasonOf(() => cache.getKey(randomKid(), 'RS256'))));

    expect(new Set(await flood())).toEqual(new Set(['key_not_found']));
    expect(issuer.jwksCalls).toBe(2);

    // 100 ms before the cooldown ends: the whole flood waits for one shared refetch.
    time.advance(29.9);
    expect(new Set(await flood())).toEqual(new Set(['key_not_found']));
    expect(issuer.jwksCalls).toBe(3);

    // Right after that refetch, the next one is 30 s away: refused at once, no fetch.
    time.advance(1);
    expect(new Set(await flood())).toEqual(new Set(['key_not_found']));
    expect(issuer.jwksCalls).toBe(3);
  });

  it('without a kid picks the only key that fits the algorithm', async () => {
    const { cache } = setup({}, [rsa, ec]);
    expect(await cache.getKey(undefined, 'ES256')).toBe(await cache.getKey(ec.kid, 'ES256'));
  });

  it('without a kid refuses to choose between two keys that fit, with key_not_found', async () => {
    const { cache } = setup({}, [rsa, rsa2]);
    expect(await reasonOf(() => cache.getKey(undefined, 'RS256'))).toBe('key_not_found');
  });
});

describe('JwksCache: algorithms and key filtering', () => {
  it('refuses an RS256 key for a token that claims ES256 with algorithm_not_allowed', async () => {
    const { cache } = setup();
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'ES256'))).toBe('algorithm_not_allowed');
  });

  it('refuses an RS256 key for a token that claims RS384 (same key type) with algorithm_not_allowed', async () => {
    const { cache } = setup();
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS384'))).toBe('algorithm_not_allowed');
  });

  it('uses a key without alg for any algorithm of its type', async () => {
    const { alg: _alg, ...noAlg } = rsa.publicJwk;
    const { cache } = setup({}, [noAlg]);
    expect(keyType(await cache.getKey(rsa.kid, 'RS384'))).toBe('public');
  });

  it('refuses a key without alg that cannot serve the token’s algorithm with algorithm_not_allowed', async () => {
    const { alg: _alg, ...noAlg } = ec.publicJwk;
    const { cache } = setup({}, [noAlg]);
    expect(await reasonOf(() => cache.getKey(ec.kid, 'ES384'))).toBe('algorithm_not_allowed');
  });

  it('a published key that cannot be imported is key_unusable (a 500: the issuer must fix it), not algorithm_not_allowed', async () => {
    const broken: JWK = { kty: 'EC', crv: 'P-256', kid: 'broken-1', alg: 'ES256', use: 'sig', x: 'AA', y: 'AA' };
    const { cache } = setup({}, [rsa, broken]);
    const error = await rejection(() => cache.getKey('broken-1', 'ES256'));
    expect(error.code).toBe('key_unusable');
    expect(error.kind).toBe('misconfigured');
    expect(keyType(await cache.getKey(rsa.kid, 'RS256'))).toBe('public');
  });

  it('ignores keys that carry private material (d)', async () => {
    const privateJwk: JWK = { ...(await exportJWK(rsa2.privateKey)), kid: 'private-1', alg: 'RS256', use: 'sig' };
    const { cache } = setup({}, [rsa, privateJwk]);
    expect(await reasonOf(() => cache.getKey('private-1', 'RS256'))).toBe('key_not_found');
  });

  it('ignores encryption keys (use: enc)', async () => {
    const { cache } = setup({}, [rsa, { ...rsa2.publicJwk, kid: 'enc-1', use: 'enc' }]);
    expect(await reasonOf(() => cache.getKey('enc-1', 'RS256'))).toBe('key_not_found');
  });

  it('ignores symmetric keys (kty oct)', async () => {
    const { cache } = setup({}, [rsa, { kty: 'oct', k: 'c2VjcmV0', kid: 'oct-1', alg: 'HS256' }]);
    expect(await reasonOf(() => cache.getKey('oct-1', 'RS256'))).toBe('key_not_found');
  });
});

describe('JwksCache: failures', () => {
  it.each([
    ['HTTP 500', 'http500'],
    ['a refused connection', 'refused'],
  ] as const)('on a cold start with %s fails with jwks_unavailable (not key_not_found)', async (_name, mode) => {
    const { cache, issuer } = setup();
    issuer.mode = mode;
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS256'))).toBe('jwks_unavailable');
  });

  it('fails with jwks_unavailable when the key-set request answers HTTP 500', async () => {
    const time = fakeClock();
    const issuer = new FakeIssuer({ keys: [rsa] });
    issuer.mode = 'http500';
    const cache = new JwksCache({ issuer: ISSUER, jwksUri: issuer.jwksUri, fetch: issuer.fetch, clock: time.clock });
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS256'))).toBe('jwks_unavailable');
    expect(issuer.calls).toEqual([issuer.jwksUri]);
  });

  it('fails with jwks_unavailable when the body is not a JWK Set', async () => {
    const { cache, issuer } = setup();
    issuer.jwksBody = { keys: 'nope' };
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS256'))).toBe('jwks_unavailable');
  });

  it('times out a request that never answers with jwks_unavailable', async () => {
    const { cache, issuer } = setup({ timeoutMs: 20 });
    issuer.mode = 'hang';
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS256'))).toBe('jwks_unavailable');
  });

  it('times out a key-set request that never answers (jwksUri override) with jwks_unavailable', async () => {
    const time = fakeClock();
    const issuer = new FakeIssuer({ keys: [rsa] });
    issuer.mode = 'hang';
    const cache = new JwksCache({
      issuer: ISSUER,
      jwksUri: issuer.jwksUri,
      fetch: issuer.fetch,
      clock: time.clock,
      timeoutMs: 20,
    });
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS256'))).toBe('jwks_unavailable');
  });

  it('keeps serving the last good keys while refreshes fail, until max-age + maxStaleness, then jwks_unavailable', async () => {
    const { cache, issuer, time } = setup({ maxStaleness: 100 });
    issuer.cacheControl = 'max-age=60';
    await cache.getKey(rsa.kid, 'RS256');
    issuer.mode = 'refused';

    time.set(T0 + 61_000);
    expect(keyType(await cache.getKey(rsa.kid, 'RS256'))).toBe('public');
    await settle();
    expect(issuer.jwksCalls).toBe(2); // the background refresh was tried, and failed

    time.set(T0 + 159_999);
    expect(keyType(await cache.getKey(rsa.kid, 'RS256'))).toBe('public');
    await settle();

    time.set(T0 + 160_000);
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS256'))).toBe('jwks_unavailable');
  });

  it('after a failure makes no new attempt until retryAfterFailure has passed, then recovers', async () => {
    const { cache, issuer, time } = setup({ retryAfterFailure: 5 });
    issuer.mode = 'refused';
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS256'))).toBe('jwks_unavailable');
    const attempts = issuer.calls.length;

    issuer.mode = 'up';
    time.set(T0 + 4_999);
    expect(await reasonOf(() => cache.getKey(rsa.kid, 'RS256'))).toBe('jwks_unavailable');
    expect(issuer.calls.length).toBe(attempts);

    time.set(T0 + 5_000);
    expect(keyType(await cache.getKey(rsa.kid, 'RS256'))).toBe('public');
    expect(issuer.jwksCalls).toBe(1);
  });

  it('reports a failed fetch as a jwks_fetch event with ok false', async () => {
    const { cache, issuer, events } = setup();
    issuer.mode = 'http500';
    await reasonOf(() => cache.refresh());
    expect(events).toEqual([expect.objectContaining({ type: 'jwks_fetch', ok: false })]);
  });
});

describe('key rotation through LocalVerifier', () => {
  it('accepts a token signed with a key that appears after the first fetch', async () => {
    const time = fakeClock();
    const issuer = new FakeIssuer({ keys: [rsa] });
    const verifier = new LocalVerifier({
      issuers: [ISSUER],
      audience: AUDIENCE,
      fetch: issuer.fetch,
      clock: time.clock,
    });
    await verifier.verify(await signToken(rsa));
    issuer.keys = [rsa, rsa2];
    time.advance(30);
    expect((await verifier.verify(await signToken(rsa2, { issuedAt: time.now() }))).verifiedBy).toBe('local');
    expect(issuer.jwksCalls).toBe(2);
  });

  it('lets 1000 concurrent tokens with random kids cause one key-set fetch', async () => {
    const time = fakeClock();
    const issuer = new FakeIssuer({ keys: [rsa] });
    const verifier = new LocalVerifier({
      issuers: [ISSUER],
      audience: AUDIENCE,
      fetch: issuer.fetch,
      clock: time.clock,
    });
    await verifier.warm();
    time.advance(30);
    const template = await signToken(rsa, { issuedAt: time.now() });
    const tokens = await Promise.all(
      Array.from({ length: 1000 }, () => signToken(rsa, { issuedAt: time.now(), header: { kid: randomKid() } })),
    );
    const codes = await Promise.all(tokens.map((t) => reasonOf(() => verifier.verify(t))));
    expect(new Set(codes)).toEqual(new Set(['key_not_found']));
    expect(issuer.jwksCalls).toBe(2);
    expect((await verifier.verify(template)).verifiedBy).toBe('local');
  });
});
