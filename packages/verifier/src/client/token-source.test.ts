import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fakeClock, generateTestKey, signToken, T0, type TestKey } from '../../test/fake-issuer.js';
import { TokenSourceError, type TokenSourceErrorCode } from '../errors.js';
import {
  FileTokenSource,
  StaticTokenSource,
  withServiceAccountToken,
  type FileTokenSourceOptions,
} from './token-source.js';

let key: TestKey;
let dir: string;
let generation = 0;

beforeAll(async () => {
  key = await generateTestKey('RS256', 'rsa-1');
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kube-auth-token-'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Writes the token as the kubelet's atomic writer does: into a new timestamped directory, then a new `..data` symlink
 * renamed over the old one. `token` is a symlink to `..data/token`, created on the first write.
 */
function kubeletWrite(content: string): string {
  const stamp = `..2026_06_01_12_00_00.${String(++generation).padStart(9, '0')}`;
  mkdirSync(join(dir, stamp));
  writeFileSync(join(dir, stamp, 'token'), content);
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  try {
    symlinkSync('..data/token', join(dir, 'token'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return join(dir, 'token');
}

async function codeOf(source: FileTokenSource): Promise<TokenSourceErrorCode> {
  try {
    await source.getToken();
  } catch (err) {
    if (err instanceof TokenSourceError) return err.code;
    throw err;
  }
  throw new Error('getToken returned a token');
}

function source(path: string, options: Partial<FileTokenSourceOptions> = {}) {
  const time = fakeClock();
  const reads: Array<Date | undefined> = [];
  const tokens = new FileTokenSource({
    path,
    clock: time.clock,
    onRead: (info) => reads.push(info.expiresAt),
    ...options,
  });
  return { tokens, reads, time };
}

describe('FileTokenSource', () => {
  it('reads the token, without the trailing newline', async () => {
    const token = await signToken(key);
    const { tokens } = source(kubeletWrite(`${token}\n`));
    expect(await tokens.getToken()).toBe(token);
  });

  it('reports each read with the token’s expiry', async () => {
    const { tokens, reads } = source(kubeletWrite(await signToken(key)));
    await tokens.getToken();
    expect(reads).toEqual([new Date(T0 + 600_000)]);
  });

  it('serves an unchanged file from its cache (onRead called once for two gets)', async () => {
    const token = await signToken(key);
    const { tokens, reads } = source(kubeletWrite(token));
    expect(await tokens.getToken()).toBe(token);
    expect(await tokens.getToken()).toBe(token);
    expect(reads).toHaveLength(1);
  });

  it('re-reads the file after the kubelet swaps the ..data symlink', async () => {
    const first = await signToken(key);
    const second = await signToken(key, { issuedAt: T0 + 1000, claims: { jti: 'second' } });
    const { tokens, reads } = source(kubeletWrite(first));
    expect(await tokens.getToken()).toBe(first);
    kubeletWrite(second);
    expect(await tokens.getToken()).toBe(second);
    expect(reads).toHaveLength(2);
  });

  it('reads the file on every call with reread: always', async () => {
    const { tokens, reads } = source(kubeletWrite(await signToken(key)), { reread: 'always' });
    await tokens.getToken();
    await tokens.getToken();
    await tokens.getToken();
    expect(reads).toHaveLength(3);
  });

  it('fails with token_file_missing when the file does not exist', async () => {
    const { tokens } = source(join(dir, 'no-such-token'));
    expect(await codeOf(tokens)).toBe('token_file_missing');
  });

  it('fails with token_file_empty when the file holds only whitespace', async () => {
    const { tokens } = source(kubeletWrite(' \n'));
    expect(await codeOf(tokens)).toBe('token_file_empty');
  });

  it('fails with token_file_unreadable when the path cannot be read as a file', async () => {
    mkdirSync(join(dir, 'a-directory'));
    const { tokens } = source(join(dir, 'a-directory'));
    expect(await codeOf(tokens)).toBe('token_file_unreadable');
  });

  it('fails with token_file_expired when the token in the file has expired', async () => {
    const { tokens, time } = source(kubeletWrite(await signToken(key)));
    time.set(T0 + 600_000);
    expect(await codeOf(tokens)).toBe('token_file_expired');
  });

  it('never serves an expired token from its cache', async () => {
    const token = await signToken(key);
    const { tokens, time, reads } = source(kubeletWrite(token));
    expect(await tokens.getToken()).toBe(token);
    time.set(T0 + 599_999);
    expect(await tokens.getToken()).toBe(token);
    expect(reads).toHaveLength(1);
    time.set(T0 + 600_000);
    expect(await codeOf(tokens)).toBe('token_file_expired');
    expect(reads).toHaveLength(2);
  });

  it('serves the rotated token once the kubelet has replaced an expired one', async () => {
    const { tokens, time } = source(kubeletWrite(await signToken(key)));
    time.set(T0 + 600_000);
    expect(await codeOf(tokens)).toBe('token_file_expired');
    const fresh = await signToken(key, { issuedAt: T0 + 590_000 });
    kubeletWrite(fresh);
    expect(await tokens.getToken()).toBe(fresh);
  });

  it('serves content that is not a JWT as is (no expiry to check)', async () => {
    const { tokens, reads } = source(kubeletWrite('opaque-token'));
    expect(await tokens.getToken()).toBe('opaque-token');
    expect(await tokens.getToken()).toBe('opaque-token');
    expect(reads).toEqual([undefined]);
  });
});

describe('StaticTokenSource', () => {
  it('always gives its token', async () => {
    const tokens = new StaticTokenSource('t0k3n');
    expect(await tokens.getToken()).toBe('t0k3n');
  });
});

describe('withServiceAccountToken', () => {
  function capture() {
    const requests: Array<{ input: unknown; headers: Headers; method: string | undefined }> = [];
    const fetchImpl = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      requests.push({ input, headers: new Headers(init?.headers), method: init?.method });
      return new Response('ok');
    }) as typeof fetch;
    return { requests, fetchImpl };
  }

  it('adds Authorization: Bearer <token> by default', async () => {
    const { requests, fetchImpl } = capture();
    await withServiceAccountToken(
      fetchImpl,
      new StaticTokenSource('t0k3n'),
    )('http://app.data-store.svc.cluster.local/');
    expect(requests[0]?.input).toBe('http://app.data-store.svc.cluster.local/');
    expect(requests[0]?.headers.get('authorization')).toBe('Bearer t0k3n');
  });

  it('puts the bare token in another header, such as X-Client-Id', async () => {
    const { requests, fetchImpl } = capture();
    await withServiceAccountToken(fetchImpl, new StaticTokenSource('t0k3n'), { header: 'X-Client-Id' })(
      'http://store/',
    );
    expect(requests[0]?.headers.get('x-client-id')).toBe('t0k3n');
    expect(requests[0]?.headers.has('authorization')).toBe(false);
  });

  it('keeps the caller’s other headers and options', async () => {
    const { requests, fetchImpl } = capture();
    await withServiceAccountToken(fetchImpl, new StaticTokenSource('t0k3n'))('http://store/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(requests[0]?.method).toBe('POST');
    expect(requests[0]?.headers.get('content-type')).toBe('application/json');
  });

  it('asks the source for the current token on every request', async () => {
    const { requests, fetchImpl } = capture();
    const first = await signToken(key);
    const second = await signToken(key, { claims: { jti: 'second' } });
    const path = kubeletWrite(first);
    const authed = withServiceAccountToken(fetchImpl, new FileTokenSource({ path, clock: fakeClock().clock }), {
      header: 'x-client-id',
    });
    await authed('http://store/');
    kubeletWrite(second);
    await authed('http://store/');
    expect(requests.map((r) => r.headers.get('x-client-id'))).toEqual([first, second]);
  });

  it('sends nothing when the token cannot be had', async () => {
    const { requests, fetchImpl } = capture();
    const authed = withServiceAccountToken(fetchImpl, new FileTokenSource({ path: join(dir, 'missing') }));
    await expect(authed('http://store/')).rejects.toBeInstanceOf(TokenSourceError);
    expect(requests).toEqual([]);
  });
});
