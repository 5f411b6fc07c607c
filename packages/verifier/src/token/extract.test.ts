import { describe, expect, it } from 'vitest';
import { KubeAuthError, type ReasonCode } from '../errors.js';
import { assertCompactJws, DEFAULT_MAX_TOKEN_BYTES, extractToken, type TokenScheme } from './extract.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

function codeOf(value: string | string[] | undefined, scheme: TokenScheme, maxBytes?: number): ReasonCode {
  try {
    extractToken(value, scheme, maxBytes);
  } catch (err) {
    if (err instanceof KubeAuthError) return err.code;
    throw err;
  }
  throw new Error('extractToken accepted the value');
}

describe('extractToken, bearer scheme', () => {
  it('returns the token of "Bearer <token>"', () => {
    expect(extractToken(`Bearer ${TOKEN}`, 'bearer')).toBe(TOKEN);
  });

  it('accepts the scheme name in any case and several spaces after it', () => {
    expect(extractToken(`bearer  ${TOKEN}`, 'bearer')).toBe(TOKEN);
  });

  it('returns the token of a one-element header array', () => {
    expect(extractToken([`Bearer ${TOKEN}`], 'bearer')).toBe(TOKEN);
  });

  it('rejects a missing header with token_missing', () => {
    expect(codeOf(undefined, 'bearer')).toBe('token_missing');
  });

  it('rejects an empty header with token_missing', () => {
    expect(codeOf('', 'bearer')).toBe('token_missing');
  });

  it('rejects "Bearer" without a token with token_missing', () => {
    expect(codeOf('Bearer', 'bearer')).toBe('token_missing');
    expect(codeOf('Bearer   ', 'bearer')).toBe('token_missing');
  });

  it('rejects two tokens with token_malformed', () => {
    expect(codeOf(`Bearer ${TOKEN} ${TOKEN}`, 'bearer')).toBe('token_malformed');
  });

  it('rejects leading or trailing whitespace and tabs with token_malformed', () => {
    expect(codeOf(` Bearer ${TOKEN}`, 'bearer')).toBe('token_malformed');
    expect(codeOf(`Bearer ${TOKEN} `, 'bearer')).toBe('token_malformed');
    expect(codeOf(`Bearer\t${TOKEN}`, 'bearer')).toBe('token_malformed');
  });

  it('rejects non-ASCII characters with token_malformed', () => {
    expect(codeOf(`Bearer ${TOKEN}é`, 'bearer')).toBe('token_malformed');
  });

  it('rejects another scheme with token_malformed', () => {
    expect(codeOf(`Basic ${TOKEN}`, 'bearer')).toBe('token_malformed');
    expect(codeOf(TOKEN, 'bearer')).toBe('token_malformed');
  });

  it('rejects an array of two headers with token_malformed', () => {
    expect(codeOf([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`], 'bearer')).toBe('token_malformed');
  });

  it('rejects a bearer value that is not a compact JWS with token_malformed', () => {
    expect(codeOf('Bearer abc.def', 'bearer')).toBe('token_malformed');
    expect(codeOf('Bearer a+b.c/d.e=', 'bearer')).toBe('token_malformed');
  });

  it('rejects a token longer than maxBytes with token_too_large', () => {
    const big = `${'a'.repeat(600)}.${'b'.repeat(600)}.${'c'.repeat(600)}`;
    expect(codeOf(`Bearer ${big}`, 'bearer', 1024)).toBe('token_too_large');
  });

  it('rejects a huge header value with token_too_large before parsing it', () => {
    expect(codeOf(`Bearer ${'x '.repeat(DEFAULT_MAX_TOKEN_BYTES)}`, 'bearer')).toBe('token_too_large');
  });

  it('accepts a token of exactly maxBytes', () => {
    const token = `${'a'.repeat(8)}.${'b'.repeat(8)}.${'c'.repeat(8)}`;
    expect(extractToken(`Bearer ${token}`, 'bearer', token.length)).toBe(token);
  });
});

describe('extractToken, raw scheme', () => {
  it('returns the bare token', () => {
    expect(extractToken(TOKEN, 'raw')).toBe(TOKEN);
  });

  it('rejects a missing header with token_missing', () => {
    expect(codeOf(undefined, 'raw')).toBe('token_missing');
  });

  it('rejects a Bearer-prefixed value with token_malformed', () => {
    expect(codeOf(`Bearer ${TOKEN}`, 'raw')).toBe('token_malformed');
  });

  it('rejects whitespace around the token with token_malformed', () => {
    expect(codeOf(` ${TOKEN}`, 'raw')).toBe('token_malformed');
    expect(codeOf(`${TOKEN}\n`, 'raw')).toBe('token_malformed');
  });

  it('rejects non-ASCII characters with token_malformed', () => {
    expect(codeOf(`${TOKEN}ü`, 'raw')).toBe('token_malformed');
  });

  it('rejects an array of two headers with token_malformed', () => {
    expect(codeOf([TOKEN, TOKEN], 'raw')).toBe('token_malformed');
  });

  it('rejects a token longer than maxBytes with token_too_large', () => {
    expect(codeOf(`${'a'.repeat(400)}.${'b'.repeat(400)}.${'c'.repeat(400)}`, 'raw', 1000)).toBe('token_too_large');
  });
});

describe('assertCompactJws', () => {
  it('accepts three base64url segments', () => {
    expect(() => assertCompactJws(TOKEN)).not.toThrow();
  });

  it.each([
    ['two segments', 'a.b'],
    ['four segments', 'a.b.c.d'],
    ['an empty segment', 'a..c'],
    ['an empty signature', 'a.b.'],
    ['padding', 'a.b.c='],
    ['standard base64 characters', 'a+.b.c'],
  ])('rejects %s with token_malformed', (_name, token) => {
    let code: ReasonCode | undefined;
    try {
      assertCompactJws(token);
    } catch (err) {
      code = (err as KubeAuthError).code;
    }
    expect(code).toBe('token_malformed');
  });
});
