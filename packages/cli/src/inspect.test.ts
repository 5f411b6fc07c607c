import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { inspect, renderInspection, UNVERIFIED_BANNER } from './inspect.js';
import { readToken, UsageError } from './read-token.js';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const token = (payload: Record<string, unknown>) => `${b64({ alg: 'RS256', kid: 'k1' })}.${b64(payload)}.c2ln`;
const s = NOW / 1000;

describe('inspect', () => {
  it('explains a projected token: audience, times, bindings, under the UNVERIFIED banner', () => {
    const result = inspect(
      token({
        aud: ['data-store'],
        iat: s - 60,
        nbf: s - 60,
        exp: s + 540,
        iss: 'https://kubernetes.default.svc.cluster.local',
        sub: 'system:serviceaccount:api:api',
        'kubernetes.io': {
          namespace: 'api',
          serviceaccount: { name: 'api', uid: 'sa-uid' },
          pod: { name: 'api-7f', uid: 'pod-uid' },
          node: { name: 'n1', uid: 'node-uid' },
        },
      }),
      NOW,
    );
    expect(result.unverified).toBe(true);
    expect(Object.fromEntries(result.facts)).toMatchObject({
      algorithm: 'RS256, key id k1',
      audience: 'data-store',
      expires: '2026-06-01T12:09:00.000Z (in 9 min), lifetime 10 min',
      'bound to pod': 'api-7f (uid pod-uid)',
      'service account': 'api (uid sa-uid)',
    });
    expect(result.warnings).toEqual([]);
    expect(renderInspection(result).startsWith(UNVERIFIED_BANNER)).toBe(true);
  });

  it('warns about an expired token, a missing exp, an API-server audience and a missing pod binding', () => {
    const expired = inspect(
      token({
        aud: ['data-store'],
        exp: s - 300,
        'kubernetes.io': { serviceaccount: { name: 'a' }, pod: { name: 'p' } },
      }),
      NOW,
    );
    expect(expired.warnings).toEqual(['EXPIRED 5 min ago: refused as token_expired (beyond the leeway)']);
    const legacy = inspect(token({ iss: 'kubernetes/serviceaccount', sub: 'system:serviceaccount:api:api' }), NOW);
    expect(legacy.warnings.join('\n')).toMatch(/no audience[\s\S]*no exp[\s\S]*no kubernetes.io claims/);
    const api = inspect(
      token({
        aud: ['https://kubernetes.default.svc.cluster.local'],
        exp: s + 60,
        'kubernetes.io': { serviceaccount: { name: 'a' } },
      }),
      NOW,
    );
    expect(api.warnings.join('\n')).toMatch(/is the API server's[\s\S]*not bound to a pod/);
  });

  it('refuses what is not a JWT', () => {
    expect(() => inspect('abc', NOW)).toThrow(/not a JWT/);
    expect(() => inspect(`${b64([1])}.${b64({})}.x`, NOW)).toThrow(/not a JWT/);
  });
});

describe('readToken', () => {
  const tty = Object.assign(Readable.from([]), { isTTY: true }) as unknown as NodeJS.ReadStream;
  const piped = (text: string) =>
    Object.assign(Readable.from([Buffer.from(text)]), { isTTY: false }) as unknown as NodeJS.ReadStream;

  it('takes the argument, or standard input when piped or "-", and drops a Bearer prefix', async () => {
    expect(await readToken('a.b.c', undefined, tty)).toBe('a.b.c');
    expect(await readToken(undefined, undefined, piped('Bearer a.b.c\n'))).toBe('a.b.c');
    expect(await readToken('-', undefined, piped(' x.y.z '))).toBe('x.y.z');
  });

  it('is a usage error with no source, with two sources, or with an unreadable file', async () => {
    await expect(readToken(undefined, undefined, tty)).rejects.toBeInstanceOf(UsageError);
    await expect(readToken('a.b.c', '/etc/hostname', tty)).rejects.toBeInstanceOf(UsageError);
    await expect(readToken(undefined, '/nonexistent/token', tty)).rejects.toThrow(/ENOENT/);
  });
});
