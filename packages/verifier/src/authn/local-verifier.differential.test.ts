/**
 * The node:crypto signature path against jose (the verifier's previous path) as an oracle: every generated token —
 * valid, mutated, re-signed by another key, every algorithm, every header trick of the adversarial catalogue
 * (alg none/None/HS256 keyed with the public key, kid tricks, jku/x5u/embedded jwk, crit and b64, BOM, non-object
 * JSON, bad UTF-8, lone base64 characters) — must get the same verdict from both.
 */
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { errors as joseErrors, importJWK, jwtVerify, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { identityFromClaims } from '../identity/identity.js';
import { KubeAuthError } from '../errors.js';
import { LocalVerifier } from './local-verifier.js';
import { AUDIENCE, fakeClock, FakeIssuer, ISSUER, kubernetesClaims, T0 } from '../../test/fake-issuer.js';

// Every algorithm on the allow-list; EdDSA tokens (the 'ed' pair below) stay in the input, refused by both.
const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
const LEEWAY = 60;

interface Signer {
  name: string;
  privateKey: KeyObject;
  publicJwk: JWK;
}

function signer(
  name: string,
  type: 'rsa' | 'rsa1024' | 'P-256' | 'P-384' | 'P-521' | 'ed25519',
  extra: Partial<JWK> = {},
): Signer {
  const { privateKey, publicKey } =
    type === 'rsa' || type === 'rsa1024'
      ? generateKeyPairSync('rsa', { modulusLength: type === 'rsa' ? 2048 : 1024 })
      : type === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: type });
  return {
    name,
    privateKey,
    publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: name, use: 'sig', ...extra },
  };
}

let published: Signer[];
let attackers: Signer[];
let verifier: LocalVerifier;
const clock = fakeClock();

beforeAll(async () => {
  // RSA key generation is slow on a busy machine.
  published = [
    signer('rsa-rs256', 'rsa', { alg: 'RS256' }),
    signer('rsa-any', 'rsa'),
    signer('rsa-small', 'rsa1024'),
    signer('rsa-ops-sign', 'rsa', { key_ops: ['sign'] }),
    signer('rsa-ops-verify', 'rsa', { key_ops: ['verify'] }),
    signer('ec-256', 'P-256', { alg: 'ES256' }),
    signer('ec-384', 'P-384'),
    signer('ec-521', 'P-521', { alg: 'ES512' }),
    signer('ed', 'ed25519'),
  ];
  attackers = [signer('rsa-rs256', 'rsa', { alg: 'RS256' }), signer('ec-256', 'P-256'), signer('attacker', 'rsa')];
  const issuer = new FakeIssuer({ keys: published.map((s) => s.publicJwk) });
  // unknownKidWaitMs 0: the injected clock stands still, so waiting for the next refetch of an unknown kid would be a
  // real-time sleep per generated token.
  verifier = new LocalVerifier({
    issuers: [ISSUER],
    audience: AUDIENCE,
    fetch: issuer.fetch,
    clock: clock.clock,
    algorithms: ALGS,
    cacheTtlSeconds: 0,
    jwks: { unknownKidWaitMs: 0 },
  });
  await verifier.warm();
}, 120_000);

/** jose's verdict, with the key chosen as JwksCache chooses it (published RSA/EC public signing keys only). */
async function oracle(token: string): Promise<boolean> {
  const usable = published
    .map((s) => s.publicJwk)
    .filter((k) => (k.kty === 'RSA' || k.kty === 'EC') && (k.use === undefined || k.use === 'sig'));
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const alg = header.alg;
        const jwk =
          header.kid !== undefined
            ? usable.find((k) => k.kid === header.kid)
            : ((c) => (c.length === 1 ? c[0] : undefined))(usable.filter((k) => fits(k, alg)));
        if (!jwk) throw new Error('no key');
        if (jwk.alg !== undefined && jwk.alg !== alg) throw new Error('key for another alg');
        return importJWK(jwk, alg);
      },
      {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: [...ALGS],
        clockTolerance: LEEWAY,
        currentDate: new Date(clock.now()),
        requiredClaims: ['exp', 'iat', 'sub'],
      },
    );
    if ((payload.iat as number) > clock.now() / 1000 + LEEWAY) return false;
    const aud = [payload.aud ?? []].flat();
    identityFromClaims(
      payload,
      [AUDIENCE].filter((a) => aud.includes(a)),
    );
    return true;
  } catch (err) {
    if (err instanceof KubeAuthError || err instanceof joseErrors.JOSEError || err instanceof Error) return false;
    throw err;
  }
}

// Key selection without a kid, as JwksCache does it (shared by both paths; the signature check is what is compared).
function fits(jwk: JWK, alg: string): boolean {
  if (jwk.alg !== undefined) return jwk.alg === alg;
  if (alg.startsWith('RS') || alg.startsWith('PS')) return jwk.kty === 'RSA';
  return (
    jwk.kty === 'EC' && jwk.crv === ({ ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as Record<string, string>)[alg]
  );
}

async function ours(token: string): Promise<boolean> {
  try {
    await verifier.verify(token);
    return true;
  } catch (err) {
    if (err instanceof KubeAuthError) return false;
    throw err; // Anything else is a bug: the verifier only ever rejects with a reason.
  }
}

const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64url');

function signWith(alg: string, key: Signer | undefined, input: string): string {
  const data = Buffer.from(input);
  if (alg === 'HS256' && key) return b64(createHmac('sha256', JSON.stringify(key.publicJwk)).update(data).digest());
  if (!key || alg === 'none' || alg === 'None' || alg === '') return '';
  try {
    const digest = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
    if (alg.startsWith('PS')) return b64(sign(digest, data, { key: key.privateKey, padding: 6, saltLength: -1 }));
    if (alg.startsWith('ES')) return b64(sign(digest, data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }));
    return b64(sign(digest, data, key.privateKey));
  } catch {
    // The key cannot make this signature (an EC key for RS256, say): an arbitrary one instead.
    return b64('not a signature for this key');
  }
}

// Key and algorithm pairs: most are valid, some are the catalogue's key confusions (a 1024-bit RSA key, key_ops
// without verify, an Ed25519 key the key set ignores, ES256 under an RSA kid, RS256 under an EC kid).
const PAIRS: Array<[string, string]> = [
  ['rsa-rs256', 'RS256'],
  ...(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const).map((alg): [string, string] => ['rsa-any', alg]),
  ['rsa-ops-verify', 'PS256'],
  ['ec-256', 'ES256'],
  ['ec-384', 'ES384'],
  ['ec-521', 'ES512'],
  ['rsa-small', 'RS256'],
  ['rsa-ops-sign', 'RS256'],
  ['ed', 'EdDSA'],
  ['rsa-rs256', 'ES256'],
  ['ec-256', 'RS256'],
  ['ec-384', 'ES256'],
  ['rsa-rs256', 'PS256'],
];

// One header trick at a time (the adversarial catalogue's), or none.
const headerTrick = fc.option(
  fc.constantFrom<Record<string, unknown>>(
    { alg: 'none' },
    { alg: 'None' },
    { alg: 'HS256' },
    { alg: '' },
    { alg: 256 },
    { alg: undefined },
    { kid: 'unknown' },
    { kid: 12345 },
    { kid: undefined },
    { kid: 'rsa-any' },
    { typ: 'at+jwt' },
    { crit: ['b64'], b64: true },
    { crit: ['b64'], b64: false },
    { crit: ['b64'], b64: 'true' },
    { crit: ['b64'] },
    { crit: ['x-policy'], 'x-policy': 'admin' },
    { crit: 'x-policy' },
    { crit: [] },
    { crit: [''] },
    { crit: ['b64', 'b64'], b64: true },
    { jku: 'https://attacker.example/jwks.json' },
    { x5u: 'https://attacker.example/cert.pem' },
    { jwk: { kty: 'oct', k: 'AAAA' } },
  ),
  { freq: 2 },
);

const iat = Math.floor(T0 / 1000);
// One claim changed at a time, or none.
const claimTrick = fc.option(
  fc.constantFrom<Record<string, unknown>>(
    { iss: `${ISSUER}/` },
    { iss: 'https://evil.example.com' },
    { iss: undefined },
    { iss: 7 },
    { aud: AUDIENCE },
    { aud: ['other', AUDIENCE] },
    { aud: ['Data-Store'] },
    { aud: [] },
    { aud: undefined },
    { aud: 7 },
    { sub: 'system:admin' },
    { sub: undefined },
    { iat: iat + 59, nbf: iat },
    { iat: iat + 61, nbf: iat },
    { iat: undefined },
    { iat: '0' },
    { nbf: iat + 61 },
    { nbf: iat + 59 },
    { nbf: undefined },
    { nbf: '0' },
    { exp: iat - 59 },
    { exp: iat - 60 },
    { exp: iat - 61 },
    { exp: undefined },
    { exp: '99999999999' },
    { exp: iat + 1e9 },
  ),
  { freq: 2 },
);

const encoding = fc.oneof(
  { weight: 10, arbitrary: fc.constant('json') },
  fc.constantFrom('bom', 'array', 'string', 'bad-utf8', 'json-with-lone-char'),
);

function encodeJson(value: unknown, how: string): string {
  switch (how) {
    case 'bom':
      return b64(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(value))]));
    case 'array':
      return b64(JSON.stringify([value]));
    case 'string':
      return b64(JSON.stringify(JSON.stringify(value)));
    case 'bad-utf8':
      return b64(Buffer.concat([Buffer.from(JSON.stringify(value).slice(0, -1)), Buffer.from([0xff, 0x7d])]));
    default:
      return b64(JSON.stringify(value));
  }
}

const mutation = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  fc.record({
    op: fc.constantFrom('replace' as const, 'insert' as const),
    at: fc.nat(),
    char: fc.constantFrom(...'AQgw_-9.'),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('append-to-signature' as const), char: fc.constantFrom('A', 'Q', '_') }),
);

function mutate(token: string, m: { op: string; at?: number; char?: string } | undefined): string {
  if (!m) return token;
  const at = (m.at ?? 0) % (token.length + 1);
  switch (m.op) {
    case 'replace':
      return token.slice(0, at) + m.char + token.slice(at + 1);
    case 'insert':
      return token.slice(0, at) + m.char + token.slice(at);
    case 'delete':
      return token.slice(0, at) + token.slice(at + 1);
    default:
      return token + (m.char ?? '');
  }
}

const tokenArbitrary = fc
  .record({
    pair: fc.constantFrom(...PAIRS),
    header: headerTrick,
    headerEncoding: encoding,
    claims: claimTrick,
    payloadEncoding: encoding,
    // Re-signed by an attacker's key (same kid for two of them), or signed for another alg than the header says.
    attacker: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, fc.nat({ max: 2 })),
    signAlg: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, fc.constantFrom<string>(...ALGS, 'EdDSA', 'HS256')),
    mutation,
  })
  .map((spec) => {
    const [kid, alg] = spec.pair;
    const header: Record<string, unknown> = { alg, kid, typ: 'JWT', ...spec.header };
    for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
    const claims: Record<string, unknown> = { ...kubernetesClaims(), ...spec.claims };
    for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
    const key = spec.attacker === null ? published.find((s) => s.name === kid) : attackers[spec.attacker];
    let encodedHeader = encodeJson(header, spec.headerEncoding);
    let encodedPayload = encodeJson(claims, spec.payloadEncoding);
    if (spec.headerEncoding === 'json-with-lone-char') encodedHeader += 'A';
    if (spec.payloadEncoding === 'json-with-lone-char') encodedPayload += 'A';
    const input = `${encodedHeader}.${encodedPayload}`;
    const signature =
      signWith(spec.signAlg ?? (typeof header.alg === 'string' ? header.alg : alg), key, input) || 'AAAA';
    return mutate(`${input}.${signature}`, spec.mutation ?? undefined);
  });

describe('LocalVerifier: node:crypto path against jose as an oracle', () => {
  it('sanity: the generator yields accepted tokens too (the property is not vacuous)', async () => {
    const samples = fc.sample(tokenArbitrary, { numRuns: 600, seed: 7 });
    let accepted = 0;
    for (const token of samples) if (await oracle(token)) accepted++;
    // Enough accepted tokens that agreement on acceptance is tested, not only agreement on refusal.
    expect(accepted).toBeGreaterThan(samples.length / 20);
  }, 120_000);

  it('gives the same verdict as jose on every generated token', async () => {
    await fc.assert(
      fc.asyncProperty(tokenArbitrary, async (token) => {
        expect(await ours(token)).toBe(await oracle(token));
      }),
      { numRuns: 1500 },
    );
  }, 300_000);

  it('gives the same verdict as jose for every algorithm and every published key, signed by that key', async () => {
    const iat = Math.floor(T0 / 1000);
    const claims = { ...kubernetesClaims(), iat, nbf: iat, exp: iat + 600 };
    let accepted = 0;
    // EdDSA too, signed by the published Ed25519 key: off both allow-lists, so both must refuse it.
    for (const alg of [...ALGS, 'EdDSA']) {
      for (const key of [...published, ...attackers]) {
        for (const kid of [key.publicJwk.kid, undefined]) {
          const header = kid === undefined ? { alg } : { alg, kid };
          const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
          const token = `${input}.${signWith(alg, key, input) || 'AAAA'}`;
          const expected = await oracle(token);
          expect({ alg, key: key.name, kid, verdict: await ours(token) }).toEqual({
            alg,
            key: key.name,
            kid,
            verdict: expected,
          });
          if (expected) accepted++;
        }
      }
    }
    // RS/PS with the RSA keys allowed for them, ES256/384/512 on their curves: the fixture must accept some of each.
    expect(accepted).toBeGreaterThanOrEqual(8);
  }, 120_000);
});
