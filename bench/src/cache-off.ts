/**
 * Section 2: our local verification with the result cache off (every token fully checked, as for a caller never seen
 * before), against the least a JWT verifier can do, in paired chunks, for RS256 and ES256.
 */
import { verify, type KeyObject } from 'node:crypto';
import type { LocalVerifier } from '@kube-service-auth/verifier';
import type { Path } from './paired.js';
import { AUDIENCE, ISSUER, type SigningKey } from './tokens.js';

/**
 * The minimal JWT check: split on the dots, base64url-decode and `JSON.parse` the payload, compare `iss`, `aud` and
 * `exp`, verify the signature with `crypto.verify`. Nothing else — no header (so no `alg` allow-list, no `kid`), no
 * `nbf`, no pod binding, no identity. Not safe to use; a yardstick: a real verifier does all of this and more.
 */
export function minimalCheck(token: string, key: KeyObject, alg: SigningKey['alg']): boolean {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  const claims = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString()) as {
    iss?: unknown;
    aud?: unknown;
    exp?: unknown;
  };
  const aud = claims.aud;
  if (
    claims.iss !== ISSUER ||
    !(aud === AUDIENCE || (Array.isArray(aud) && aud.includes(AUDIENCE))) ||
    typeof claims.exp !== 'number' ||
    claims.exp * 1000 <= Date.now()
  )
    return false;
  return verify(
    'sha256',
    Buffer.from(token.slice(0, second)),
    alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key,
    Buffer.from(token.slice(second + 1), 'base64url'),
  );
}

function must(ok: boolean, what: string): void {
  if (!ok) throw new Error(`${what}: a valid token was refused`);
}

/**
 * The paths of one algorithm, each cycling through the same distinct tokens: bare `crypto.verify` of each token's
 * signature (buffers prepared ahead), the minimal check (twice: the A/A control), and ours through `check()` (what
 * the adapters call; synchronous once the key is held) and `verify()`.
 */
export function cacheOffPaths(key: SigningKey, tokens: readonly string[], local: LocalVerifier): Path[] {
  const alg = key.alg;
  const signed = tokens.map((t) => {
    const second = t.lastIndexOf('.');
    return { data: Buffer.from(t.slice(0, second)), signature: Buffer.from(t.slice(second + 1), 'base64url') };
  });
  const verifyKey = alg === 'ES256' ? { key: key.publicKey, dsaEncoding: 'ieee-p1363' as const } : key.publicKey;
  const cycle = <T>(items: readonly T[]) => {
    let i = 0;
    return () => items[i++ % items.length] as T;
  };
  const nextSigned = cycle(signed);
  const minimal = (id: string): Path => {
    const next = cycle(tokens);
    return { id, run: () => must(minimalCheck(next(), key.publicKey, alg), id) };
  };
  const forCheck = cycle(tokens);
  const forVerify = cycle(tokens);
  return [
    {
      id: `${alg}-floor`,
      run: () => {
        const s = nextSigned();
        must(verify('sha256', s.data, verifyKey, s.signature), 'crypto.verify');
      },
    },
    minimal(`${alg}-minimal`),
    minimal(`${alg}-minimal-aa`),
    {
      id: `${alg}-check`,
      run: () => {
        const result = local.check(forCheck());
        must(!(result instanceof Promise) && result.namespace === 'api', 'check');
      },
    },
    { id: `${alg}-verify`, run: () => local.verify(forVerify()).then((r) => must(r.namespace === 'api', 'verify')) },
  ];
}
