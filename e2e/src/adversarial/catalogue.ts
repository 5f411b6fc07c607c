import { createPublicKey, randomBytes } from 'node:crypto';
import type { ReasonCode } from '@kube-service-auth/verifier';
import { exportJWK } from 'jose';
import { signServiceAccountToken } from '@kube-service-auth/testing';
import { attacker, b64, signCompact, type Cluster } from './fixture.js';

/** What a bad token is built from. */
export interface Context {
  cluster: Cluster;
  /** URL of a {@link HitCounter} serving the attacker's JWK Set: the target of `jku` / `x5u`. */
  attackerUrl: string;
  /** A valid token of the allowed caller (from TokenRequest), to mutate. */
  valid: string;
}

export interface BadToken {
  group: 'algorithm and key' | 'header' | 'claims' | 'times' | 'malformed' | 'kubernetes';
  name: string;
  /** The reason code local verification must give. */
  reason: ReasonCode;
  build: (ctx: Context) => Promise<string>;
  /** Why this case is not sent over HTTP (e.g. HTTP strips leading and trailing whitespace of a field value). */
  inProcessOnly?: string;
}

const seconds = () => Math.floor(Date.now() / 1000);
const segments = (token: string) => token.split('.') as [string, string, string];
const attackerKid = 'attacker-key-1';

/** A token of the allowed caller signed with the cluster's real key, with claim overrides. */
const real =
  (overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  async (ctx: Context) =>
    ctx.cluster.signWithClusterKey(await ctx.cluster.claims(overrides), header);

/** The same claims, signed by the attacker. */
const forged =
  (header: Record<string, unknown>, alg: 'RS256' | 'ES256' = 'RS256') =>
  async (ctx: Context) =>
    signCompact(
      { alg, ...header },
      await ctx.cluster.claims(),
      alg,
      alg === 'RS256' ? attacker.rsa.privateKey : attacker.ec.privateKey,
    );

const clusterKid = async (ctx: Context) => (await ctx.cluster.signingKey()).kid;

/** The cluster's RSA public key as it is published (JWK) and as PEM / DER bytes: the HMAC "secret" of key confusion. */
async function publicKeyBytes(ctx: Context, form: 'pem' | 'jwk' | 'der'): Promise<Buffer> {
  const jwk = (await ctx.cluster.jwks()).keys[0];
  if (!jwk) throw new Error('the cluster publishes no key');
  if (form === 'jwk') return Buffer.from(JSON.stringify(jwk));
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  return form === 'pem'
    ? Buffer.from(key.export({ type: 'spki', format: 'pem' }))
    : key.export({ type: 'spki', format: 'der' });
}

const hs256 = (form: 'pem' | 'jwk' | 'der') => async (ctx: Context) =>
  signCompact(
    { alg: 'HS256', kid: await clusterKid(ctx), typ: 'JWT' },
    await ctx.cluster.claims(),
    'HS256',
    await publicKeyBytes(ctx, form),
  );

/** Raw JSON text with a duplicated member: `first` then `last`, both under `name`. */
async function duplicated(ctx: Context, name: string, first: unknown, last: unknown): Promise<string> {
  const claims = await ctx.cluster.claims({ [name]: undefined });
  const body = JSON.stringify(claims).slice(1, -1);
  return `{${JSON.stringify(name)}:${JSON.stringify(first)},${body},${JSON.stringify(name)}:${JSON.stringify(last)}}`;
}

/**
 * Every bad token of the suite. Each is for the data store's audience and bound to the allowed caller's pod unless the
 * attack is about exactly that, so the one thing wrong with it is the thing its name says.
 */
export const BAD_TOKENS: BadToken[] = [
  // --- algorithm and key -------------------------------------------------------------------------------------------
  {
    group: 'algorithm and key',
    name: 'alg none, empty signature',
    reason: 'token_malformed',
    build: async (ctx) => signCompact({ alg: 'none', kid: await clusterKid(ctx) }, await ctx.cluster.claims(), 'none'),
  },
  {
    group: 'algorithm and key',
    name: 'alg none, with a signature segment',
    reason: 'algorithm_not_allowed',
    build: async (ctx) =>
      `${signCompact({ alg: 'none', kid: await clusterKid(ctx) }, await ctx.cluster.claims(), 'none')}${segments(ctx.valid)[2]}`,
  },
  {
    group: 'algorithm and key',
    name: 'alg "None" (case variant)',
    reason: 'algorithm_not_allowed',
    build: async (ctx) =>
      `${signCompact({ alg: 'None', kid: await clusterKid(ctx) }, await ctx.cluster.claims(), 'none')}AAAA`,
  },
  {
    group: 'algorithm and key',
    name: 'HS256 keyed with the cluster public key (PEM)',
    reason: 'algorithm_not_allowed',
    build: hs256('pem'),
  },
  {
    group: 'algorithm and key',
    name: 'HS256 keyed with the cluster public key (JWK JSON)',
    reason: 'algorithm_not_allowed',
    build: hs256('jwk'),
  },
  {
    group: 'algorithm and key',
    name: 'HS256 keyed with the cluster public key (DER)',
    reason: 'algorithm_not_allowed',
    build: hs256('der'),
  },
  {
    group: 'algorithm and key',
    name: 'RS384 signed with the real cluster key',
    reason: 'algorithm_not_allowed',
    build: async (ctx) => ctx.cluster.signWithClusterKey(await ctx.cluster.claims(), {}, 'RS384'),
  },
  {
    group: 'algorithm and key',
    name: 'PS256 signed with the real cluster key',
    reason: 'algorithm_not_allowed',
    build: async (ctx) => ctx.cluster.signWithClusterKey(await ctx.cluster.claims(), {}, 'PS256'),
  },
  {
    group: 'algorithm and key',
    name: "ES256 (allowed alg) under the cluster RSA key's kid",
    reason: 'algorithm_not_allowed',
    build: async (ctx) => forged({ kid: await clusterKid(ctx) }, 'ES256')(ctx),
  },
  {
    group: 'algorithm and key',
    name: "RS256 signed by another key with the cluster's kid",
    reason: 'signature_invalid',
    build: async (ctx) => forged({ kid: await clusterKid(ctx) })(ctx),
  },
  {
    group: 'algorithm and key',
    name: 'RS256 signed by another key, no kid',
    reason: 'signature_invalid',
    build: forged({}),
  },
  {
    group: 'algorithm and key',
    name: 'kid not in the key set',
    reason: 'key_not_found',
    build: forged({ kid: attackerKid }),
  },
  {
    group: 'algorithm and key',
    name: 'kid is a number',
    reason: 'key_not_found',
    build: real({}, { kid: 12345 }),
  },
  {
    group: 'algorithm and key',
    name: 'signature of another valid token transplanted',
    reason: 'signature_invalid',
    build: async (ctx) => {
      const other = segments(await ctx.cluster.token());
      const [h, p] = segments(ctx.valid);
      return `${h}.${p}.${other[2]}`;
    },
  },
  // --- header ------------------------------------------------------------------------------------------------------
  {
    group: 'header',
    name: "jku to the attacker's JWKS, attacker's kid",
    reason: 'key_not_found',
    build: async (ctx) => forged({ kid: attackerKid, jku: `${ctx.attackerUrl}/jwks.json` })(ctx),
  },
  {
    group: 'header',
    name: "jku to the attacker's JWKS, cluster's kid",
    reason: 'signature_invalid',
    build: async (ctx) => forged({ kid: await clusterKid(ctx), jku: `${ctx.attackerUrl}/jwks.json` })(ctx),
  },
  {
    group: 'header',
    name: "x5u to the attacker's server, cluster's kid",
    reason: 'signature_invalid',
    build: async (ctx) => forged({ kid: await clusterKid(ctx), x5u: `${ctx.attackerUrl}/cert.pem` })(ctx),
  },
  {
    group: 'header',
    name: "embedded jwk (attacker's key) under the cluster's kid",
    reason: 'signature_invalid',
    build: async (ctx) => forged({ kid: await clusterKid(ctx), jwk: await exportJWK(attacker.rsa.publicKey) })(ctx),
  },
  {
    group: 'header',
    name: "embedded jwk (attacker's key) under its own kid",
    reason: 'key_not_found',
    build: async (ctx) =>
      forged({ kid: attackerKid, jwk: { ...(await exportJWK(attacker.rsa.publicKey)), kid: attackerKid } })(ctx),
  },
  {
    group: 'header',
    name: 'crit names an unknown extension (real key)',
    reason: 'token_malformed',
    build: real({}, { crit: ['x-policy'], 'x-policy': 'admin' }),
  },
  {
    group: 'header',
    name: 'crit b64=false, unencoded payload (real key)',
    reason: 'token_malformed',
    build: real({}, { crit: ['b64'], b64: false }),
  },
  {
    group: 'header',
    name: 'crit is not an array (real key)',
    reason: 'token_malformed',
    build: real({}, { crit: 'x-policy' }),
  },
  {
    group: 'header',
    name: 'no alg header',
    reason: 'token_malformed',
    build: async (ctx) => signCompact({ kid: await clusterKid(ctx) }, await ctx.cluster.claims(), 'none') + 'AAAA',
  },
  // --- claims ------------------------------------------------------------------------------------------------------
  {
    group: 'claims',
    name: 'wrong iss (real key)',
    reason: 'issuer_mismatch',
    build: real({ iss: 'https://evil.example.com' }),
  },
  { group: 'claims', name: 'iss missing (real key)', reason: 'issuer_mismatch', build: real({ iss: undefined }) },
  {
    group: 'claims',
    name: 'iss with a trailing slash (real key)',
    reason: 'issuer_mismatch',
    build: async (ctx) => real({ iss: `${ctx.cluster.issuer}/` })(ctx),
  },
  {
    group: 'claims',
    name: 'iss over http instead of https (real key)',
    reason: 'issuer_mismatch',
    build: async (ctx) => real({ iss: ctx.cluster.issuer.replace('https:', 'http:') })(ctx),
  },
  {
    group: 'claims',
    name: 'aud of another service (TokenRequest)',
    reason: 'audience_mismatch',
    build: (ctx) => ctx.cluster.token({ audiences: ['billing'] }),
  },
  {
    group: 'claims',
    name: 'aud array without ours (TokenRequest)',
    reason: 'audience_mismatch',
    build: (ctx) => ctx.cluster.token({ audiences: ['billing', 'data-store-v2'] }),
  },
  { group: 'claims', name: 'aud missing (real key)', reason: 'audience_mismatch', build: real({ aud: undefined }) },
  { group: 'claims', name: 'aud empty array (real key)', reason: 'audience_mismatch', build: real({ aud: [] }) },
  {
    group: 'claims',
    name: 'aud differs in case (real key)',
    reason: 'audience_mismatch',
    build: real({ aud: ['Data-Store'] }),
  },
  { group: 'claims', name: 'aud is a number (real key)', reason: 'audience_mismatch', build: real({ aud: 7 }) },
  { group: 'claims', name: 'sub missing (real key)', reason: 'claim_invalid', build: real({ sub: undefined }) },
  {
    group: 'claims',
    name: 'sub is a user, not a ServiceAccount (real key)',
    reason: 'claim_invalid',
    build: real({ sub: 'system:admin' }),
  },
  // --- times -------------------------------------------------------------------------------------------------------
  {
    group: 'times',
    name: 'expired 120 s ago (beyond the 60 s leeway)',
    reason: 'token_expired',
    build: (ctx) => issuedAt(ctx, -720),
  },
  {
    group: 'times',
    name: 'nbf and iat 120 s in the future (beyond the leeway)',
    reason: 'token_not_yet_valid',
    build: (ctx) => issuedAt(ctx, 120),
  },
  {
    group: 'times',
    name: 'iat 120 s in the future, nbf in the past (real key)',
    reason: 'token_not_yet_valid',
    build: async (ctx) => real({ iat: seconds() + 120, nbf: seconds() - 10 })(ctx),
  },
  { group: 'times', name: 'exp missing (real key)', reason: 'claim_invalid', build: real({ exp: undefined }) },
  { group: 'times', name: 'iat missing (real key)', reason: 'claim_invalid', build: real({ iat: undefined }) },
  {
    group: 'times',
    name: 'exp is a numeric string far in the future (real key)',
    reason: 'claim_invalid',
    build: real({ exp: '99999999999' }),
  },
  { group: 'times', name: 'nbf is a string (real key)', reason: 'claim_invalid', build: real({ nbf: '0' }) },
  // --- malformed ---------------------------------------------------------------------------------------------------
  {
    group: 'malformed',
    name: 'two segments',
    reason: 'token_malformed',
    build: async (ctx) => segments(ctx.valid).slice(0, 2).join('.'),
  },
  {
    group: 'malformed',
    name: 'four segments',
    reason: 'token_malformed',
    build: async (ctx) => `${ctx.valid}.${segments(ctx.valid)[2]}`,
  },
  {
    group: 'malformed',
    name: 'five segments (JWE shape)',
    reason: 'token_malformed',
    build: async () => [b64('{"alg":"RSA-OAEP","enc":"A256GCM"}'), 'a', 'b', 'c', 'd'].join('.'),
  },
  {
    group: 'malformed',
    name: 'empty payload segment',
    reason: 'token_malformed',
    build: async (ctx) => `${segments(ctx.valid)[0]}..${segments(ctx.valid)[2]}`,
  },
  {
    group: 'malformed',
    name: 'standard base64 alphabet (+ and /)',
    reason: 'token_malformed',
    build: async (ctx) =>
      `${segments(ctx.valid)[0]}.${segments(ctx.valid)[1]}.${Buffer.from(segments(ctx.valid)[2], 'base64url').toString('base64').replace(/=+$/, '')}+/`,
  },
  {
    group: 'malformed',
    name: 'base64 padding (=)',
    reason: 'token_malformed',
    build: async (ctx) => `${segments(ctx.valid)[0]}==.${segments(ctx.valid)[1]}.${segments(ctx.valid)[2]}`,
  },
  {
    group: 'malformed',
    name: 'header segment of impossible base64url length',
    reason: 'token_malformed',
    build: async (ctx) => `${segments(ctx.valid)[0]}A.${segments(ctx.valid)[1]}.${segments(ctx.valid)[2]}`,
  },
  {
    group: 'malformed',
    name: 'header is not JSON',
    reason: 'token_malformed',
    build: async (ctx) => `${b64('alg=RS256')}.${segments(ctx.valid)[1]}.${segments(ctx.valid)[2]}`,
  },
  {
    group: 'malformed',
    name: 'header is a JSON array',
    reason: 'token_malformed',
    build: async (ctx) => `${b64('[{"alg":"RS256"}]')}.${segments(ctx.valid)[1]}.${segments(ctx.valid)[2]}`,
  },
  {
    group: 'malformed',
    name: 'header is JSON null',
    reason: 'token_malformed',
    build: async (ctx) => `${b64('null')}.${segments(ctx.valid)[1]}.${segments(ctx.valid)[2]}`,
  },
  {
    group: 'malformed',
    name: 'header is a JSON string',
    reason: 'token_malformed',
    build: async (ctx) => `${b64('"RS256"')}.${segments(ctx.valid)[1]}.${segments(ctx.valid)[2]}`,
  },
  {
    group: 'malformed',
    name: 'header is not UTF-8',
    reason: 'token_malformed',
    build: async (ctx) =>
      `${b64(Buffer.from([0x7b, 0xff, 0xfe, 0x22, 0x7d]))}.${segments(ctx.valid)[1]}.${segments(ctx.valid)[2]}`,
  },
  {
    group: 'malformed',
    name: 'payload is not JSON (real key)',
    reason: 'token_malformed',
    build: async (ctx) => ctx.cluster.signWithClusterKey('sub=system:serviceaccount:api:api'),
  },
  {
    group: 'malformed',
    name: 'payload is a JSON array (real key)',
    reason: 'token_malformed',
    build: async (ctx) => ctx.cluster.signWithClusterKey(JSON.stringify([await ctx.cluster.claims()])),
  },
  {
    group: 'malformed',
    name: 'payload is a JSON number (real key)',
    reason: 'token_malformed',
    build: async (ctx) => ctx.cluster.signWithClusterKey('1'),
  },
  {
    group: 'malformed',
    name: 'duplicate iss, the last one foreign (real key)',
    reason: 'issuer_mismatch',
    build: async (ctx) =>
      ctx.cluster.signWithClusterKey(await duplicated(ctx, 'iss', ctx.cluster.issuer, 'https://evil.example.com')),
  },
  {
    group: 'malformed',
    name: 'duplicate aud, the last one foreign (real key)',
    reason: 'audience_mismatch',
    build: async (ctx) => ctx.cluster.signWithClusterKey(await duplicated(ctx, 'aud', ['data-store'], ['billing'])),
  },
  {
    group: 'malformed',
    name: 'duplicate sub (forged, cluster kid)',
    reason: 'signature_invalid',
    build: async (ctx) =>
      signCompact(
        { alg: 'RS256', kid: await clusterKid(ctx) },
        await duplicated(ctx, 'sub', 'system:serviceaccount:api:api', 'system:serviceaccount:kube-system:admin'),
        'RS256',
        attacker.rsa.privateKey,
      ),
  },
  {
    group: 'malformed',
    name: 'huge claim: 9 KiB (real key)',
    reason: 'token_too_large',
    build: real({ padding: 'x'.repeat(9 * 1024) }),
  },
  {
    group: 'malformed',
    name: 'huge header parameter: 9 KiB (real key)',
    reason: 'token_too_large',
    build: real({}, { 'x-pad': 'x'.repeat(9 * 1024) }),
  },
  {
    group: 'malformed',
    name: 'one byte over the 8192-byte limit',
    reason: 'token_too_large',
    build: async (ctx) => padTo(ctx, 8193),
  },
  {
    group: 'malformed',
    name: 'non-ASCII character in the payload segment',
    reason: 'token_malformed',
    build: async (ctx) => ctx.valid.replace('.', '.é'),
  },
  {
    group: 'malformed',
    name: 'space inside the token',
    reason: 'token_malformed',
    build: async (ctx) => ctx.valid.replace('.', '. '),
  },
  {
    group: 'malformed',
    name: 'tab inside the token',
    reason: 'token_malformed',
    build: async (ctx) => ctx.valid.replace('.', '.\t'),
  },
  {
    group: 'malformed',
    name: '"Bearer " prefix in X-Client-Id',
    reason: 'token_malformed',
    build: async (ctx) => `Bearer ${ctx.valid}`,
  },
  {
    group: 'malformed',
    name: 'leading space',
    reason: 'token_malformed',
    build: async (ctx) => ` ${ctx.valid}`,
    inProcessOnly: 'HTTP strips whitespace around a field value (RFC 9110 §5.5): the server sees the bare, valid token',
  },
  {
    group: 'malformed',
    name: 'trailing newline',
    reason: 'token_malformed',
    build: async (ctx) => `${ctx.valid}\n`,
    inProcessOnly:
      'a newline cannot be sent inside an HTTP field value (Node refuses it, and a server would see a new line)',
  },
  {
    group: 'malformed',
    name: 'random bytes in three segments',
    reason: 'token_malformed',
    build: async () => [randomBytes(30), randomBytes(200), randomBytes(256)].map((b) => b64(b)).join('.'),
  },
  // --- kubernetes --------------------------------------------------------------------------------------------------
  {
    group: 'kubernetes',
    name: 'sub inconsistent with kubernetes.io serviceaccount (real key)',
    reason: 'claim_invalid',
    build: async (ctx) =>
      ctx.cluster.signWithClusterKey({
        ...(await ctx.cluster.claims({}, { serviceAccount: 'intruder', pod: ctx.cluster.pod('intruder') })),
        sub: 'system:serviceaccount:api:api',
      }),
  },
  {
    group: 'kubernetes',
    name: 'sub names another namespace than kubernetes.io (real key)',
    reason: 'claim_invalid',
    build: real({ sub: 'system:serviceaccount:data-store:api' }),
  },
  {
    group: 'kubernetes',
    name: 'kubernetes.io claim missing (real key)',
    reason: 'claim_invalid',
    build: real({ 'kubernetes.io': undefined }),
  },
  {
    group: 'kubernetes',
    name: 'pod claim without a uid (real key)',
    reason: 'claim_invalid',
    build: async (ctx) => {
      const claims = await ctx.cluster.claims();
      const k8s = claims['kubernetes.io'] as Record<string, unknown>;
      return ctx.cluster.signWithClusterKey({ ...claims, 'kubernetes.io': { ...k8s, pod: { name: 'api' } } });
    },
  },
  {
    group: 'kubernetes',
    name: 'token not bound to a pod (TokenRequest without boundObjectRef)',
    reason: 'claim_invalid',
    build: (ctx) => ctx.cluster.token({ pod: null }),
  },
  {
    group: 'kubernetes',
    name: "default API-audience token presented to the data store (the article's replay)",
    reason: 'audience_mismatch',
    build: (ctx) => ctx.cluster.token({ audiences: [] }),
  },
  {
    group: 'kubernetes',
    name: 'legacy Secret-based token shape: no exp, no aud (real key)',
    reason: 'issuer_mismatch',
    build: async (ctx) =>
      ctx.cluster.signWithClusterKey({
        iss: 'kubernetes/serviceaccount',
        'kubernetes.io/serviceaccount/namespace': 'api',
        'kubernetes.io/serviceaccount/secret.name': 'api-token',
        'kubernetes.io/serviceaccount/service-account.name': 'api',
        'kubernetes.io/serviceaccount/service-account.uid': await saUid(ctx, 'api'),
        sub: 'system:serviceaccount:api:api',
      }),
  },
];

/** The API pod's token, signed by the API server's own key, issued `offsetSeconds` from now for 600 s. */
async function issuedAt(ctx: Context, offsetSeconds: number): Promise<string> {
  return signServiceAccountToken(ctx.cluster.cp.signingKey, {
    issuer: ctx.cluster.issuer,
    namespace: 'api',
    serviceAccount: { name: 'api', uid: await saUid(ctx, 'api') },
    audiences: ['data-store'],
    pod: ctx.cluster.pod('api'),
    node: ctx.cluster.node,
    issuedAt: new Date((seconds() + offsetSeconds) * 1000),
    expiresInSeconds: 600,
  });
}

async function saUid(ctx: Context, name: string): Promise<string> {
  const sa = await ctx.cluster.admin.core.readNamespacedServiceAccount({ namespace: 'api', name });
  return sa.metadata?.uid as string;
}

/** A token of the allowed caller signed with the real key, padded (a claim, and a header parameter) to exactly `bytes`. */
export async function padTo(ctx: Context, bytes: number): Promise<string> {
  const base = await ctx.cluster.claims();
  const build = (p: number, h: number) =>
    ctx.cluster.signWithClusterKey({ ...base, padding: 'x'.repeat(p) }, h < 0 ? {} : { 'x-p': 'y'.repeat(h) });
  // base64url lengths skip every value that is 1 mod 4, so pad both the payload and the header.
  for (let h = -1; h < 6; h++) {
    let low = 0;
    let high = bytes;
    while (low <= high) {
      const mid = Math.floor((low + high) / 2);
      const token = await build(mid, h);
      if (token.length === bytes) return token;
      if (token.length < bytes) low = mid + 1;
      else high = mid - 1;
    }
  }
  throw new Error(`cannot build a token of exactly ${bytes} bytes`);
}
