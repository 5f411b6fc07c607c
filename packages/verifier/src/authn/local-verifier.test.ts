import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { VerifierEvent } from '../events.js';
import { LocalVerifier, type LocalVerifierOptions } from './local-verifier.js';
import {
  AUDIENCE,
  base64url,
  craftToken,
  fakeClock,
  FakeIssuer,
  generateTestKey,
  ISSUER,
  kubernetesClaims,
  reasonOf,
  rejection,
  signToken,
  T0,
  type TestKey,
} from '../../test/fake-issuer.js';

let rsa: TestKey;
let ec: TestKey;
let rs384: TestKey;
let impostor: TestKey;
let attacker: TestKey;

beforeAll(async () => {
  rsa = await generateTestKey('RS256', 'rsa-1');
  ec = await generateTestKey('ES256', 'ec-1');
  rs384 = await generateTestKey('RS384', 'rsa384-1');
  // A key that is not the issuer's but claims the kid of the issuer's RSA key.
  impostor = await generateTestKey('RS256', 'rsa-1');
  attacker = await generateTestKey('RS256', 'attacker-1');
});

function setup(options: Partial<LocalVerifierOptions> = {}) {
  const time = fakeClock();
  const issuer = new FakeIssuer({ keys: [rsa, ec, rs384] });
  const events: VerifierEvent[] = [];
  const verifier = new LocalVerifier({
    issuers: [ISSUER],
    audience: AUDIENCE,
    fetch: issuer.fetch,
    clock: time.clock,
    onEvent: (e) => events.push(e),
    // The injected clock stands still: waiting for the next refetch of an unknown kid would be a real-time sleep.
    ...options,
    jwks: { unknownKidWaitMs: 0, ...options.jwks },
  });
  const cacheEvents = () => events.filter((e): e is Extract<VerifierEvent, { type: 'cache' }> => e.type === 'cache');
  const cacheHits = () => cacheEvents().filter((e) => e.hit).length;
  return { time, issuer, verifier, events, cacheEvents, cacheHits };
}

describe('LocalVerifier: valid tokens', () => {
  it('accepts an RS256 token and returns the typed identity, verified locally', async () => {
    const { verifier } = setup();
    const identity = await verifier.verify(await signToken(rsa));
    expect(identity).toEqual({
      username: 'system:serviceaccount:api:api',
      namespace: 'api',
      serviceAccount: { name: 'api', uid: 'sa-uid-api-api' },
      pod: { name: 'api-7d4b9c-x2x9z', uid: 'pod-uid-1' },
      node: { name: 'node-1', uid: 'node-uid-1' },
      groups: ['system:serviceaccounts', 'system:serviceaccounts:api', 'system:authenticated'],
      audiences: [AUDIENCE],
      issuer: ISSUER,
      credentialId: 'jti-0b1c2d3e',
      issuedAt: new Date(T0),
      expiresAt: new Date(T0 + 600_000),
      verifiedBy: 'local',
    });
  });

  it('accepts an ES256 token and returns its identity', async () => {
    const { verifier } = setup();
    const identity = await verifier.verify(await signToken(ec, { namespace: 'shop', serviceAccount: 'cart' }));
    expect(identity).toMatchObject({
      username: 'system:serviceaccount:shop:cart',
      namespace: 'shop',
      serviceAccount: { name: 'cart', uid: 'sa-uid-shop-cart' },
      pod: { name: 'cart-7d4b9c-x2x9z', uid: 'pod-uid-1' },
      node: { name: 'node-1', uid: 'node-uid-1' },
      groups: ['system:serviceaccounts', 'system:serviceaccounts:shop', 'system:authenticated'],
      audiences: [AUDIENCE],
      verifiedBy: 'local',
    });
  });

  it('accepts a token without pod or node claims when no binding is required', async () => {
    const { verifier } = setup();
    const identity = await verifier.verify(await signToken(rsa, { pod: null, node: null }));
    expect(identity.pod).toBeUndefined();
    expect(identity.node).toBeUndefined();
  });

  it('accepts an aud array that contains ours and reports only the audiences we accept', async () => {
    const { verifier } = setup({ audience: [AUDIENCE, 'also-accepted'] });
    const identity = await verifier.verify(
      await signToken(rsa, { audience: ['https://kubernetes.default.svc', AUDIENCE] }),
    );
    expect(identity.audiences).toEqual([AUDIENCE]);
  });

  it('accepts a string aud equal to ours', async () => {
    const { verifier } = setup();
    const identity = await verifier.verify(await signToken(rsa, { claims: { aud: AUDIENCE } }));
    expect(identity.audiences).toEqual([AUDIENCE]);
  });

  it('accepts RS384 once it is in the allow-list (control for the default-list rejection)', async () => {
    const { verifier } = setup({ algorithms: ['RS256', 'RS384'] });
    expect((await verifier.verify(await signToken(rs384))).verifiedBy).toBe('local');
  });
});

describe('LocalVerifier: several issuers', () => {
  function twoIssuers() {
    const time = fakeClock();
    const a = new FakeIssuer({ issuer: 'https://a.example', keys: [rsa] });
    const b = new FakeIssuer({ issuer: 'https://b.example', keys: [ec] });
    const verifier = new LocalVerifier({
      issuers: [
        { issuer: a.issuer, fetch: a.fetch },
        { issuer: b.issuer, fetch: b.fetch },
      ],
      audience: AUDIENCE,
      fetch: () => Promise.reject(new Error('the shared fetch is not used when an issuer has its own')),
      clock: time.clock,
      jwks: { unknownKidWaitMs: 0 },
    });
    return { a, b, verifier };
  }

  it('verifies each issuer’s tokens with that issuer’s key set', async () => {
    const { verifier } = twoIssuers();
    expect((await verifier.verify(await signToken(rsa, { issuer: 'https://a.example' }))).issuer).toBe(
      'https://a.example',
    );
    expect((await verifier.verify(await signToken(ec, { issuer: 'https://b.example' }))).issuer).toBe(
      'https://b.example',
    );
  });

  it('does not verify a token of one issuer with the keys of another', async () => {
    const { verifier } = twoIssuers();
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa, { issuer: 'https://b.example' })))).toBe(
      'key_not_found',
    );
  });
});

describe('LocalVerifier: algorithms', () => {
  it('rejects alg "none" with algorithm_not_allowed and fetches nothing', async () => {
    const { verifier, issuer } = setup();
    const token = craftToken({ alg: 'none', typ: 'JWT' }, kubernetesClaims(), base64url('x'));
    expect(await reasonOf(() => verifier.verify(token))).toBe('algorithm_not_allowed');
    expect(issuer.calls).toEqual([]);
  });

  it('rejects an unsigned "none" token (empty signature) as token_malformed', async () => {
    const { verifier } = setup();
    const token = craftToken({ alg: 'none', typ: 'JWT' }, kubernetesClaims(), '');
    expect(await reasonOf(() => verifier.verify(token))).toBe('token_malformed');
  });

  it('rejects HS256 signed with the RSA public key as the secret (key confusion) with algorithm_not_allowed', async () => {
    const { verifier, issuer } = setup();
    const secret = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const token = await new SignJWT(kubernetesClaims())
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid, typ: 'JWT' })
      .sign(secret);
    expect(await reasonOf(() => verifier.verify(token))).toBe('algorithm_not_allowed');
    expect(issuer.calls).toEqual([]);
  });

  it('rejects RS384, which is not in the default allow-list, with algorithm_not_allowed', async () => {
    const { verifier } = setup();
    expect(await reasonOf(async () => verifier.verify(await signToken(rs384)))).toBe('algorithm_not_allowed');
  });

  it('rejects an ES256 token whose kid names an RS256 key with algorithm_not_allowed', async () => {
    const { verifier } = setup();
    const token = await signToken(ec, { header: { kid: rsa.kid } });
    expect(await reasonOf(() => verifier.verify(token))).toBe('algorithm_not_allowed');
  });
});

describe('LocalVerifier: EdDSA is not on any allow-list', () => {
  it('refuses an EdDSA token whose Ed25519 key is published, with algorithm_not_allowed and no key fetched', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'ed-1', alg: 'EdDSA', use: 'sig' };
    const issuer = new FakeIssuer({ keys: [rsa, jwk] });
    const verifier = new LocalVerifier({
      issuers: [ISSUER],
      audience: AUDIENCE,
      fetch: issuer.fetch,
      clock: fakeClock().clock,
    });
    const token = await new SignJWT(kubernetesClaims())
      .setProtectedHeader({ alg: 'EdDSA', kid: 'ed-1', typ: 'JWT' })
      .sign(privateKey);
    expect(await reasonOf(() => verifier.verify(token))).toBe('algorithm_not_allowed');
    expect(issuer.calls).toEqual([]);
    // The RSA key of the same set still verifies: the Ed25519 entry is skipped, not fatal.
    expect((await verifier.verify(await signToken(rsa))).username).toBe('system:serviceaccount:api:api');
  });
});

describe('LocalVerifier: signature', () => {
  it('rejects a token signed by another key with the same kid with signature_invalid', async () => {
    const { verifier } = setup();
    expect(await reasonOf(async () => verifier.verify(await signToken(impostor)))).toBe('signature_invalid');
  });

  it('rejects a token whose payload was changed after signing with signature_invalid', async () => {
    const { verifier } = setup();
    const [header, , signature] = (await signToken(rsa)).split('.');
    const forged = `${header}.${base64url(JSON.stringify(kubernetesClaims({ namespace: 'kube-system', serviceAccount: 'admin' })))}.${signature}`;
    expect(await reasonOf(() => verifier.verify(forged))).toBe('signature_invalid');
  });

  it('rejects a kid that the key set does not have with key_not_found', async () => {
    const { verifier } = setup();
    expect(await reasonOf(async () => verifier.verify(await signToken(attacker)))).toBe('key_not_found');
  });
});

describe('LocalVerifier: issuer', () => {
  it('rejects an unknown iss with issuer_mismatch without any fetch', async () => {
    const { verifier, issuer } = setup();
    const err = await rejection(async () => verifier.verify(await signToken(rsa, { issuer: 'https://evil.example' })));
    expect(err.code).toBe('issuer_mismatch');
    expect(issuer.calls).toEqual([]);
  });

  it('rejects a token without iss with issuer_mismatch', async () => {
    const { verifier } = setup();
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa, { claims: { iss: undefined } })))).toBe(
      'issuer_mismatch',
    );
  });
});

describe('LocalVerifier: audience', () => {
  it('rejects another audience with audience_mismatch', async () => {
    const { verifier } = setup();
    expect(
      await reasonOf(async () =>
        verifier.verify(await signToken(rsa, { audience: ['https://kubernetes.default.svc'] })),
      ),
    ).toBe('audience_mismatch');
  });

  it('rejects a token without aud with audience_mismatch', async () => {
    const { verifier } = setup();
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa, { claims: { aud: undefined } })))).toBe(
      'audience_mismatch',
    );
  });

  it('rejects an aud array without ours with audience_mismatch', async () => {
    const { verifier } = setup();
    expect(
      await reasonOf(async () => verifier.verify(await signToken(rsa, { audience: ['api', 'data-store-2', 'vault'] }))),
    ).toBe('audience_mismatch');
  });

  it('rejects an empty aud array with audience_mismatch', async () => {
    const { verifier } = setup();
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa, { audience: [] })))).toBe(
      'audience_mismatch',
    );
  });
});

describe('LocalVerifier: times (default leeway 60 s)', () => {
  // The default token: iat = nbf = T0, exp = T0 + 600 s.
  const EXP = T0 + 600_000;

  it('rejects a token expired by the full leeway with token_expired', async () => {
    const { verifier, time } = setup();
    time.set(EXP + 60_000);
    const err = await rejection(async () => verifier.verify(await signToken(rsa)));
    expect(err.code).toBe('token_expired');
    expect(err.claim).toBe('exp');
  });

  it('accepts a token expired by less than the leeway', async () => {
    const { verifier, time } = setup();
    time.set(EXP + 59_000);
    expect((await verifier.verify(await signToken(rsa))).username).toBe('system:serviceaccount:api:api');
  });

  it('honours a configured leeway of 0', async () => {
    const { verifier, time } = setup({ leewaySeconds: 0 });
    time.set(EXP);
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa)))).toBe('token_expired');
  });

  it('rejects nbf beyond the leeway in the future with token_not_yet_valid', async () => {
    const { verifier } = setup();
    const err = await rejection(async () => verifier.verify(await signToken(rsa, { issuedAt: T0 + 61_000 })));
    expect(err.code).toBe('token_not_yet_valid');
    expect(err.claim).toBe('nbf');
  });

  it('accepts nbf (and iat) in the future within the leeway', async () => {
    const { verifier } = setup();
    expect((await verifier.verify(await signToken(rsa, { issuedAt: T0 + 60_000 }))).verifiedBy).toBe('local');
  });

  it('rejects iat beyond the leeway in the future (nbf absent) with token_not_yet_valid', async () => {
    const { verifier } = setup();
    const err = await rejection(async () =>
      verifier.verify(await signToken(rsa, { issuedAt: T0 + 61_000, claims: { nbf: undefined } })),
    );
    expect(err.code).toBe('token_not_yet_valid');
    expect(err.claim).toBe('iat');
  });

  it('rejects iat beyond the leeway in the future even when nbf is in the past', async () => {
    const { verifier } = setup();
    const token = await signToken(rsa, { issuedAt: T0 + 120_000, claims: { nbf: T0 / 1000 - 10 } });
    expect(await reasonOf(() => verifier.verify(token))).toBe('token_not_yet_valid');
  });

  it('rejects a token without exp with claim_invalid naming exp', async () => {
    const { verifier } = setup();
    const err = await rejection(async () => verifier.verify(await signToken(rsa, { claims: { exp: undefined } })));
    expect(err.code).toBe('claim_invalid');
    expect(err.claim).toBe('exp');
  });

  it('rejects a token without iat with claim_invalid naming iat', async () => {
    const { verifier } = setup();
    const err = await rejection(async () => verifier.verify(await signToken(rsa, { claims: { iat: undefined } })));
    expect(err.code).toBe('claim_invalid');
    expect(err.claim).toBe('iat');
  });
});

describe('LocalVerifier: Kubernetes claims', () => {
  it('rejects a token without sub with claim_invalid naming sub', async () => {
    const { verifier } = setup();
    const err = await rejection(async () => verifier.verify(await signToken(rsa, { claims: { sub: undefined } })));
    expect(err.code).toBe('claim_invalid');
    expect(err.claim).toBe('sub');
  });

  it.each([
    ['exp', '99999999999'],
    ['nbf', '0'],
    ['iat', 'yesterday'],
  ])('rejects a non-numeric %s with claim_invalid (malformed, not a time verdict)', async (claim, value) => {
    const { verifier } = setup();
    const err = await rejection(async () => verifier.verify(await signToken(rsa, { claims: { [claim]: value } })));
    expect(err.code).toBe('claim_invalid');
    expect(err.claim).toBe(claim);
  });

  it('rejects a sub that is not a ServiceAccount with claim_invalid', async () => {
    const { verifier } = setup();
    const err = await rejection(async () => verifier.verify(await signToken(rsa, { claims: { sub: 'system:admin' } })));
    expect(err.code).toBe('claim_invalid');
    expect(err.claim).toBe('sub');
  });

  it('rejects a sub inconsistent with kubernetes.io with claim_invalid naming sub', async () => {
    const { verifier } = setup();
    const token = await signToken(rsa, { claims: { sub: 'system:serviceaccount:kube-system:admin' } });
    const err = await rejection(() => verifier.verify(token));
    expect(err.code).toBe('claim_invalid');
    expect(err.claim).toBe('sub');
  });

  it('rejects a token without the kubernetes.io claim with claim_invalid naming it', async () => {
    const { verifier } = setup();
    const err = await rejection(async () =>
      verifier.verify(await signToken(rsa, { claims: { 'kubernetes.io': undefined } })),
    );
    expect(err.code).toBe('claim_invalid');
    expect(err.claim).toBe('kubernetes.io');
  });

  it('rejects a pod claim without a uid with claim_invalid', async () => {
    const { verifier } = setup();
    const claims = kubernetesClaims();
    const k8s = { ...(claims['kubernetes.io'] as Record<string, unknown>), pod: { name: 'p' } };
    expect(
      await reasonOf(async () => verifier.verify(await signToken(rsa, { claims: { 'kubernetes.io': k8s } }))),
    ).toBe('claim_invalid');
  });

  it('rejects an unbound token with claim_invalid when a pod binding is required', async () => {
    const { verifier } = setup({ requirePodBinding: true });
    const err = await rejection(async () => verifier.verify(await signToken(rsa, { pod: null })));
    expect(err.code).toBe('claim_invalid');
    expect(err.claim).toBe('kubernetes.io');
  });

  it('accepts a pod-bound token when a pod binding is required', async () => {
    const { verifier } = setup({ requirePodBinding: true });
    expect((await verifier.verify(await signToken(rsa))).pod?.uid).toBe('pod-uid-1');
  });

  it('rejects a token without a node claim with claim_invalid when a node binding is required', async () => {
    const { verifier } = setup({ requireNodeBinding: true });
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa, { node: null })))).toBe('claim_invalid');
  });
});

describe('LocalVerifier: headers', () => {
  it('rejects an unknown crit header with token_malformed', async () => {
    const { verifier } = setup();
    const token = await signToken(rsa, {
      header: { crit: ['example.com/must-understand'], 'example.com/must-understand': true },
      crit: { 'example.com/must-understand': true },
    });
    expect(await reasonOf(() => verifier.verify(token))).toBe('token_malformed');
  });

  it('ignores jku and x5u headers: the token verifies with the issuer’s keys and nothing else is fetched', async () => {
    const { verifier, issuer } = setup();
    const token = await signToken(rsa, {
      header: { jku: 'https://attacker.example/jwks.json', x5u: 'https://attacker.example/cert.pem' },
    });
    expect((await verifier.verify(token)).verifiedBy).toBe('local');
    expect(issuer.calls).toEqual([issuer.discoveryUrl, issuer.jwksUri]);
  });

  it('ignores an embedded jwk header: the attacker’s key under the issuer’s kid gives signature_invalid', async () => {
    const { verifier, issuer } = setup();
    const token = await signToken(impostor, { header: { jwk: impostor.publicJwk } });
    expect(await reasonOf(() => verifier.verify(token))).toBe('signature_invalid');
    expect(issuer.calls.every((u) => u === issuer.discoveryUrl || u === issuer.jwksUri)).toBe(true);
  });

  it('ignores an embedded jwk header: the attacker’s key under its own kid gives key_not_found', async () => {
    const { verifier, issuer } = setup();
    const token = await signToken(attacker, {
      header: { jwk: attacker.publicJwk, jku: 'https://attacker.example/jwks.json' },
    });
    expect(await reasonOf(() => verifier.verify(token))).toBe('key_not_found');
    expect(issuer.calls).toEqual([issuer.discoveryUrl, issuer.jwksUri]);
  });
});

describe('LocalVerifier: malformed tokens', () => {
  it.each([
    ['a header of invalid base64url length', () => `e.${base64url('{}')}.${base64url('s')}`],
    ['a header that is not JSON', () => `${base64url('not json')}.${base64url('{}')}.${base64url('s')}`],
    [
      'a payload that is not JSON',
      () => `${base64url(JSON.stringify({ alg: 'RS256', kid: 'rsa-1' }))}.${base64url('{{')}.${base64url('s')}`,
    ],
    ['a payload that is a JSON array', () => craftToken({ alg: 'RS256', kid: 'rsa-1' }, [kubernetesClaims()])],
    ['a header without alg', () => craftToken({ kid: 'rsa-1', typ: 'JWT' }, kubernetesClaims())],
    ['two segments', () => 'abc.def'],
    ['whitespace', () => `${craftToken({ alg: 'RS256' }, kubernetesClaims())} `],
  ])('rejects %s with token_malformed and fetches nothing', async (_name, make) => {
    const { verifier, issuer } = setup();
    expect(await reasonOf(() => verifier.verify(make()))).toBe('token_malformed');
    expect(issuer.calls).toEqual([]);
  });

  it('rejects a token over maxTokenBytes with token_too_large', async () => {
    const { verifier } = setup({ maxTokenBytes: 1024 });
    const token = await signToken(rsa, { claims: { padding: 'x'.repeat(1024) } });
    expect(await reasonOf(() => verifier.verify(token))).toBe('token_too_large');
  });
});

describe('LocalVerifier: verified-token cache', () => {
  it('serves a second verify of the same token from the cache', async () => {
    const { verifier, issuer, cacheEvents } = setup();
    const token = await signToken(rsa);
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).toEqual(first);
    expect(cacheEvents().map((e) => e.hit)).toEqual([false, true]);
    expect(issuer.calls.length).toBe(2);
  });

  it('re-verifies once cacheTtlSeconds have passed', async () => {
    const { verifier, time, cacheEvents } = setup({ cacheTtlSeconds: 10 });
    const token = await signToken(rsa);
    await verifier.verify(token);
    time.advance(9.999);
    await verifier.verify(token);
    time.advance(0.001);
    await verifier.verify(token);
    expect(cacheEvents().map((e) => e.hit)).toEqual([false, true, false]);
  });

  it('never serves a cached token past its exp', async () => {
    const { verifier, time, cacheEvents } = setup({ cacheTtlSeconds: 3600, leewaySeconds: 0 });
    const token = await signToken(rsa); // exp = T0 + 600 s
    await verifier.verify(token);
    time.set(T0 + 599_999);
    await verifier.verify(token);
    time.set(T0 + 600_000);
    expect(await reasonOf(() => verifier.verify(token))).toBe('token_expired');
    expect(cacheEvents().map((e) => e.hit)).toEqual([false, true, false]);
  });

  it('does not cache when cacheTtlSeconds is 0', async () => {
    const { verifier, cacheHits } = setup({ cacheTtlSeconds: 0 });
    const token = await signToken(rsa);
    await verifier.verify(token);
    await verifier.verify(token);
    expect(cacheHits()).toBe(0);
  });

  it('does not cache rejections: a bad token is checked again', async () => {
    const { verifier, cacheHits } = setup();
    const token = await signToken(impostor);
    expect(await reasonOf(() => verifier.verify(token))).toBe('signature_invalid');
    expect(await reasonOf(() => verifier.verify(token))).toBe('signature_invalid');
    expect(cacheHits()).toBe(0);
  });

  it('keeps verifying correctly beyond cacheMaxEntries, caching no more than the bound', async () => {
    const { verifier, cacheHits } = setup({ cacheMaxEntries: 2 });
    const tokens = await Promise.all([1, 2, 3, 4, 5].map((i) => signToken(rsa, { claims: { jti: `jti-${i}` } })));
    for (const token of tokens) expect((await verifier.verify(token)).credentialId).toMatch(/^jti-\d$/);
    for (const token of tokens) expect((await verifier.verify(token)).verifiedBy).toBe('local');
    expect(cacheHits()).toBe(2);
  });
});

describe('LocalVerifier: key fetching', () => {
  it('coalesces the cold-start fetch of many concurrent verifications', async () => {
    const { verifier, issuer } = setup();
    const tokens = await Promise.all(
      Array.from({ length: 50 }, (_, i) => signToken(i % 2 ? rsa : ec, { claims: { jti: `j${i}` } })),
    );
    const identities = await Promise.all(tokens.map((t) => verifier.verify(t)));
    expect(identities).toHaveLength(50);
    expect(issuer.calls).toEqual([issuer.discoveryUrl, issuer.jwksUri]);
  });

  it('warm() fetches every issuer’s key set', async () => {
    const { verifier, issuer } = setup();
    await verifier.warm();
    expect(issuer.jwksCalls).toBe(1);
  });

  it('warm() rejects with jwks_unavailable when the key set cannot be had', async () => {
    const { verifier, issuer } = setup();
    issuer.mode = 'http500';
    expect(await reasonOf(() => verifier.warm())).toBe('jwks_unavailable');
  });
});

describe('LocalVerifier: configuration', () => {
  const base = () => ({ issuers: [ISSUER], audience: AUDIENCE, fetch: new FakeIssuer().fetch });

  it.each([
    ['an empty audience string', { audience: '' }],
    ['an empty audience list', { audience: [] }],
    ['an empty entry in the audience list', { audience: [AUDIENCE, ''] }],
    ['no issuer', { issuers: [] }],
    ['HS256 in the algorithms', { algorithms: ['RS256', 'HS256'] }],
    ['"none" in the algorithms', { algorithms: ['none'] }],
    ['an empty algorithm list', { algorithms: [] }],
    // Kubernetes signs with RSA or EC keys; OKP keys are not read from key sets, so EdDSA could never verify.
    ['EdDSA in the algorithms', { algorithms: ['RS256', 'EdDSA'] }],
    ['Ed25519 in the algorithms', { algorithms: ['Ed25519'] }],
  ])('throws at construction for %s', (_name, override) => {
    expect(() => new LocalVerifier({ ...base(), ...override })).toThrow();
  });

  it.each([
    ['leewaySeconds', { leewaySeconds: Number.NaN }],
    ['leewaySeconds', { leewaySeconds: -1 }],
    ['cacheTtlSeconds', { cacheTtlSeconds: -10 }],
    ['cacheMaxEntries', { cacheMaxEntries: 0 }],
    ['maxTokenBytes', { maxTokenBytes: 1.5 }],
    ['cooldown', { jwks: { cooldown: Number.NaN } }],
    ['timeoutMs', { jwks: { timeoutMs: -1 } }],
  ])('throws a TypeError naming %s for an invalid number (%j)', (name, override) => {
    expect(() => new LocalVerifier({ ...base(), ...override })).toThrow(TypeError);
    expect(() => new LocalVerifier({ ...base(), ...override })).toThrow(new RegExp(`^${name} must be`));
  });

  it('constructs with a valid configuration (control)', () => {
    expect(() => new LocalVerifier(base())).not.toThrow();
  });
});
