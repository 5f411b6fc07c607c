import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KubeAuthError } from '../errors.js';
import { decodeJws, importVerificationKey, verifySignature } from './jws.js';

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const compact = (header: unknown, payload: unknown, signature = 'c2ln') =>
  `${b64(header)}.${b64(payload)}.${signature}`;
const reason = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof KubeAuthError) return err.code;
    throw err;
  }
  return 'decoded';
};

describe('decodeJws: a header is decoded once, then shared', () => {
  it('gives tokens with the same header the same frozen header and their own payloads', () => {
    const header = { alg: 'RS256', kid: 'shared-header-test' };
    const a = decodeJws(compact(header, { n: 1 }));
    const b = decodeJws(compact(header, { n: 2 }));
    expect(a.header).toEqual(header);
    expect(b.header).toBe(a.header);
    expect(Object.isFrozen(a.header)).toBe(true);
    expect([a.payload.n, b.payload.n]).toEqual([1, 2]);
  });

  it('refuses a bad header every time: only headers that passed every check are kept', () => {
    const bad = compact({ alg: 'RS256', crit: ['exp'], exp: 1 }, { n: 1 });
    expect(reason(() => decodeJws(bad))).toBe('token_malformed');
    expect(reason(() => decodeJws(bad))).toBe('token_malformed');
    expect(reason(() => decodeJws(compact({ kid: 'no-alg' }, {})))).toBe('token_malformed');
    expect(reason(() => decodeJws(compact({ kid: 'no-alg' }, {})))).toBe('token_malformed');
  });

  it('decodes correctly past the bound of the header cache and for headers too long to be kept', () => {
    const headers = Array.from({ length: 100 }, (_, i) => ({ alg: 'ES256', kid: `k${i}` }));
    for (const header of headers) expect(decodeJws(compact(header, {})).header).toEqual(header);
    for (const header of headers) expect(decodeJws(compact(header, {})).header).toEqual(header);
    const long = { alg: 'RS256', kid: 'x'.repeat(2000) };
    expect(decodeJws(compact(long, { n: 3 })).header).toEqual(long);
    expect(decodeJws(compact(long, { n: 3 })).header).toEqual(long);
  });

  it('keeps the strict segment rules on the scratch path and on the allocating path (segments past 16 KiB)', () => {
    const big = { pad: 'p'.repeat(20_000) };
    expect(decodeJws(compact({ alg: 'RS256' }, big)).payload).toEqual(big);
    // Not UTF-8, and a lone trailing base64 character: refused on both paths.
    const notUtf8 = Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url');
    expect(reason(() => decodeJws(`${b64({ alg: 'RS256' })}.${notUtf8}.c2ln`))).toBe('token_malformed');
    const bigNotUtf8 = Buffer.concat([Buffer.from('{"a":"'), Buffer.alloc(20_000, 0xff), Buffer.from('"}')]).toString(
      'base64url',
    );
    expect(reason(() => decodeJws(`${b64({ alg: 'RS256' })}.${bigNotUtf8}.c2ln`))).toBe('token_malformed');
    expect(reason(() => decodeJws(`${b64({ alg: 'RS256' })}.${b64({})}A.c2ln`))).toBe('token_malformed');
    // A leading byte-order mark is dropped, as jose's TextDecoder does.
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"n":4}')]).toString('base64url');
    expect(decodeJws(`${b64({ alg: 'RS256' })}.${bom}.c2ln`).payload).toEqual({ n: 4 });
  });

  it('reads ASCII and non-ASCII UTF-8 payloads alike (the ASCII fast path reads bytes as latin1)', () => {
    for (const payload of [{ sub: 'plain' }, { sub: 'namé ✓ 𝄞' }]) {
      expect(decodeJws(compact({ alg: 'RS256' }, payload)).payload).toEqual(payload);
    }
    // Latin-1 bytes that are not UTF-8 never take the ASCII path.
    const latin1 = Buffer.from('{"sub":"namé"}', 'latin1').toString('base64url');
    expect(reason(() => decodeJws(`${b64({ alg: 'RS256' })}.${latin1}.c2ln`))).toBe('token_malformed');
  });
});

describe('verifySignature', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = importVerificationKey(publicKey.export({ format: 'jwk' }), 'ES256').signatureKey;
  const signed = (payload: unknown) => {
    const input = `${b64({ alg: 'ES256' })}.${b64(payload)}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };

  it('checks small tokens (scratch buffer) and large ones (allocated buffers) alike', () => {
    for (const payload of [{ n: 1 }, { pad: 'p'.repeat(20_000) }]) {
      const token = signed(payload);
      expect(verifySignature(decodeJws(token), key)).toBe(true);
      const tampered = decodeJws(signed({ ...payload, n: 2 }));
      expect(verifySignature({ ...tampered, signature: token.slice(token.lastIndexOf('.') + 1) }, key)).toBe(false);
    }
  });

  it('does not let one check leave bytes behind for the next', () => {
    const long = signed({ pad: 'q'.repeat(5000) });
    const short = signed({ n: 1 });
    expect(verifySignature(decodeJws(long), key)).toBe(true);
    expect(verifySignature(decodeJws(short), key)).toBe(true);
    // A short token carrying a prefix of the long one's signature: the bytes left in the buffer must not complete it.
    const prefix = long.slice(long.lastIndexOf('.') + 1).slice(0, 40);
    expect(verifySignature({ ...decodeJws(short), signature: prefix }, key)).toBe(false);
    expect(reason(() => verifySignature({ ...decodeJws(short), signature: 'abcde' }, key))).toBe('token_malformed');
  });
});
