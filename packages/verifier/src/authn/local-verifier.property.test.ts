import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { KubeAuthError } from '../errors.js';
import { LocalVerifier } from './local-verifier.js';
import {
  AUDIENCE,
  base64url,
  fakeClock,
  FakeIssuer,
  generateTestKey,
  ISSUER,
  kubernetesClaims,
  signToken,
  type TestKey,
} from '../../test/fake-issuer.js';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

let rsa: TestKey;
let ec: TestKey;
let verifier: LocalVerifier;
let validTokens: string[];

beforeAll(async () => {
  rsa = await generateTestKey('RS256', 'rsa-1');
  ec = await generateTestKey('ES256', 'ec-1');
  const issuer = new FakeIssuer({ keys: [rsa, ec] });
  // The clock never moves: the key set stays fresh and unknown kids cause no refetch (cooldown), so the runs are fast.
  verifier = new LocalVerifier({
    issuers: [ISSUER],
    audience: AUDIENCE,
    fetch: issuer.fetch,
    clock: fakeClock().clock,
    jwks: { unknownKidWaitMs: 0 },
  });
  await verifier.warm();
  validTokens = [await signToken(rsa), await signToken(ec)];
});

type Outcome = { kind: 'identity' } | { kind: 'rejected'; code: string } | { kind: 'other'; error: unknown };

async function outcome(token: string): Promise<Outcome> {
  try {
    await verifier.verify(token);
    return { kind: 'identity' };
  } catch (err) {
    return err instanceof KubeAuthError ? { kind: 'rejected', code: err.code } : { kind: 'other', error: err };
  }
}

/**
 * Two compact JWS that differ only in the unused low bits of the last base64url character of the signature carry the
 * same signature bytes: the signature still verifies. Such a token is "unchanged" for this property.
 */
function sameSignedContent(a: string, b: string): boolean {
  const [ha, pa, sa] = a.split('.');
  const [hb, pb, sb] = b.split('.');
  if (ha !== hb || pa !== pb || sa === undefined || sb === undefined || b.split('.').length !== 3) return false;
  return /^[A-Za-z0-9_-]+$/.test(sb) && Buffer.from(sa, 'base64url').equals(Buffer.from(sb, 'base64url'));
}

const mutation = fc.oneof(
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), char: fc.constantFrom(...`${B64URL}.= +/é`) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), char: fc.constantFrom(...`${B64URL}.=`) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
);

function mutate(
  token: string,
  mutations: Array<{ op: 'replace' | 'insert' | 'delete'; at: number; char?: string }>,
): string {
  let out = token;
  for (const m of mutations) {
    const at = m.at % (out.length + (m.op === 'insert' ? 1 : 0) || 1);
    if (m.op === 'replace') out = out.slice(0, at) + (m.char ?? '') + out.slice(at + 1);
    else if (m.op === 'insert') out = out.slice(0, at) + (m.char ?? '') + out.slice(at);
    else out = out.slice(0, at) + out.slice(at + 1);
  }
  return out;
}

describe('LocalVerifier under random input (property-based)', () => {
  it('accepts the unmutated tokens (control)', async () => {
    for (const token of validTokens) expect(await outcome(token)).toEqual({ kind: 'identity' });
  });

  it('rejects arbitrary strings, only ever with a KubeAuthError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme', maxLength: 300 })),
        async (input) => {
          const result = await outcome(input);
          expect(result.kind).toBe('rejected');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects random three-segment base64url strings, only ever with a KubeAuthError', async () => {
    const segment = fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 200 });
    await fc.assert(
      fc.asyncProperty(segment, segment, segment, async (h, p, s) => {
        expect((await outcome(`${h}.${p}.${s}`)).kind).toBe('rejected');
      }),
      { numRuns: 300 },
    );
  });

  it('rejects random JSON headers and payloads (some with our issuer and kids), only ever with a KubeAuthError', async () => {
    const header = fc.record(
      {
        alg: fc.oneof(fc.constantFrom('RS256', 'ES256', 'none', 'HS256', 'RS384', ''), fc.jsonValue()),
        kid: fc.oneof(fc.constantFrom('rsa-1', 'ec-1', 'unknown'), fc.jsonValue()),
        typ: fc.constant('JWT'),
        crit: fc.jsonValue(),
        b64: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    const payload = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          iss: fc.oneof(fc.constant(ISSUER), fc.jsonValue()),
          aud: fc.oneof(fc.constant([AUDIENCE]), fc.jsonValue()),
          sub: fc.oneof(fc.constant('system:serviceaccount:api:api'), fc.jsonValue()),
          exp: fc.oneof(fc.integer(), fc.jsonValue()),
          iat: fc.oneof(fc.integer(), fc.jsonValue()),
          nbf: fc.oneof(fc.integer(), fc.jsonValue()),
          'kubernetes.io': fc.oneof(fc.constant(kubernetesClaims()['kubernetes.io']), fc.jsonValue()),
        },
        { requiredKeys: [] },
      ),
    );
    const signature = fc.oneof(
      fc.constant(validTokens[0]?.split('.')[2] ?? 'x'),
      fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 400 }),
    );
    await fc.assert(
      fc.asyncProperty(header, payload, signature, async (h, p, s) => {
        const token = `${base64url(JSON.stringify(h))}.${base64url(JSON.stringify(p) ?? 'null')}.${s}`;
        expect((await outcome(token)).kind).toBe('rejected');
      }),
      { numRuns: 500 },
    );
  });

  it('never accepts a mutated valid token unless its signed content and signature bytes are unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(validTokens.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        async (which, mutations) => {
          const original = validTokens[which] ?? '';
          const mutated = mutate(original, mutations);
          const result = await outcome(mutated);
          if (result.kind === 'other') throw result.error;
          if (result.kind === 'identity') expect(sameSignedContent(original, mutated)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
