import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKubeFetch,
  FileTokenSource,
  LocalVerifier,
  TokenSourceError,
  withServiceAccountToken,
  type FileTokenSourceOptions,
} from '@kube-service-auth/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCompact } from './fixture.js';
import { expectRejected, outcomeOf, record, reportAfterAll } from './registry.js';

// The caller's side of a rotating token: FileTokenSource reading a projected-volume file while the "kubelet" (this
// test) swaps it with the atomic-writer layout (`token -> ..data/token`, `..data -> ..<stamp>`, renamed into place).
// No control plane is needed: what is under test is the file system race, not the tokens' authenticity.

reportAfterAll();

const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksa-token-file-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A JWT-shaped token that expires in an hour; `pad` makes tokens of different lengths, so a torn read shows. */
function token(pad: number): string {
  const now = Math.floor(Date.now() / 1000);
  return signCompact(
    { alg: 'RS256', kid: 'k' },
    { sub: 'system:serviceaccount:api:api', iat: now, exp: now + 3600, pad: 'x'.repeat(pad) },
    'RS256',
    key,
  );
}

/** The kubelet's atomic writer: a new timestamped directory, a `..data` symlink swapped in by rename, old ones removed. */
class AtomicWriter {
  swaps = 0;
  constructor(
    readonly dir: string,
    readonly file: string,
  ) {}

  get path(): string {
    return join(this.dir, this.file);
  }

  async write(content: string): Promise<void> {
    const stamp = `..${Date.now()}_${++this.swaps}`;
    await mkdir(join(this.dir, stamp), { recursive: true });
    await writeFile(join(this.dir, stamp, this.file), content, { mode: 0o600 });
    await rm(join(this.dir, '..data_tmp'), { force: true });
    await symlink(stamp, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    await symlink(join('..data', this.file), this.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    for (const entry of await readdir(this.dir)) {
      if (entry.startsWith('..') && entry !== stamp && entry !== '..data')
        await rm(join(this.dir, entry), { recursive: true, force: true });
    }
  }
}

async function tokenSourceError(run: () => Promise<unknown>): Promise<string> {
  const outcome = await outcomeOf(run);
  if (outcome.verdict === 'accept') return 'accepted';
  return outcome.error instanceof TokenSourceError ? outcome.error.code : `unexpected ${String(outcome.error)}`;
}

describe('FileTokenSource: a missing, empty or expired token file', () => {
  it('missing: TokenSourceError token_file_missing, and the wrapped fetch sends nothing', async () => {
    const source = new FileTokenSource({ path: join(dir, 'absent', 'token') });
    const code = await tokenSourceError(() => source.getToken());
    let sent = 0;
    const authed = withServiceAccountToken(
      async () => {
        sent++;
        return new Response('unexpected');
      },
      source,
      { header: 'x-client-id' },
    );
    const viaFetch = await tokenSourceError(() => authed('http://127.0.0.1:9/'));
    record({
      kind: 'fault',
      name: 'caller token file missing — read',
      expected: 'typed error; no request sent',
      reason: 'token_file_missing',
      expectedVerdict: 'reject',
      observedVerdict: code === 'accepted' ? 'accept' : 'reject',
      observed: `${code}; via fetch: ${viaFetch}, ${sent} sent`,
    });
    expect([code, viaFetch, sent]).toEqual(['token_file_missing', 'token_file_missing', 0]);
  });

  it('empty, or only whitespace: TokenSourceError token_file_empty', async () => {
    for (const [name, content] of [
      ['empty', ''],
      ['only whitespace', ' \n\t\n'],
    ] as const) {
      const path = join(dir, `${name.replace(' ', '-')}-token`);
      await writeFile(path, content);
      const code = await tokenSourceError(() => new FileTokenSource({ path }).getToken());
      record({
        kind: 'fault',
        name: `caller token file empty — ${name}`,
        expected: 'typed error',
        reason: 'token_file_empty',
        expectedVerdict: 'reject',
        observedVerdict: code === 'accepted' ? 'accept' : 'reject',
        observed: code,
      });
      expect(code).toBe('token_file_empty');
    }
  });

  it('holding an expired token (the kubelet stopped rotating it): TokenSourceError token_file_expired', async () => {
    const path = join(dir, 'expired-token');
    const now = Math.floor(Date.now() / 1000);
    await writeFile(path, signCompact({ alg: 'RS256' }, { sub: 'x', iat: now - 700, exp: now - 100 }, 'RS256', key));
    const code = await tokenSourceError(() => new FileTokenSource({ path }).getToken());
    record({
      kind: 'fault',
      name: 'caller token file expired — read',
      expected: 'typed error, the expired token is never sent',
      reason: 'token_file_expired',
      expectedVerdict: 'reject',
      observedVerdict: code === 'accepted' ? 'accept' : 'reject',
      observed: code,
    });
    expect(code).toBe('token_file_expired');
  });
});

describe('FileTokenSource while the kubelet swaps the file continuously', () => {
  it.each<[string, FileTokenSourceOptions['reread']]>([
    ['on-change (default)', 'on-change'],
    ['always', 'always'],
  ])(
    '1,000 concurrent reads (reread %s) each get one complete token or a typed TokenSourceError',
    async (_label, reread) => {
      const volume = join(dir, `volume-${reread}`);
      await mkdir(volume);
      const writer = new AtomicWriter(volume, 'api-token');
      const tokens = [token(0), token(1), token(7), token(100), token(333)];
      await writer.write(tokens[0] as string);
      const source = new FileTokenSource({ path: writer.path, reread });

      let stop = false;
      const swapping = (async () => {
        for (let i = 1; !stop; i++) await writer.write(tokens[i % tokens.length] as string);
      })();
      const seen = new Map<string, number>();
      const errors = new Map<string, number>();
      const others: unknown[] = [];
      // 20 readers of 50 reads each, interleaved with the swaps on libuv's thread pool.
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          for (let i = 0; i < 50; i++) {
            try {
              const value = await source.getToken();
              if (tokens.includes(value)) seen.set(value, (seen.get(value) ?? 0) + 1);
              else others.push(value);
            } catch (err) {
              if (err instanceof TokenSourceError) errors.set(err.code, (errors.get(err.code) ?? 0) + 1);
              else others.push(err);
            }
            // Spread the reads over about a second, so that they overlap with many swaps.
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
          }
        }),
      );
      stop = true;
      await swapping;

      const complete = [...seen.values()].reduce((a, b) => a + b, 0);
      const typed = [...errors.values()].reduce((a, b) => a + b, 0);
      record({
        kind: 'fault',
        name: `caller token file swapped during reads — reread ${reread}`,
        expected: 'each read: one complete token, or a typed TokenSourceError; never a torn, partial or empty value',
        reason: 'token_file_missing (typed, when a read races the removal of the old directory)',
        expectedVerdict: 'accept',
        observedVerdict: others.length === 0 ? 'accept' : 'reject',
        observed: `${writer.swaps} swaps; ${complete} complete tokens (${seen.size} distinct); typed errors: ${JSON.stringify(Object.fromEntries(errors))}; other: ${others.length}`,
        inputs: 1000,
      });
      expect(others).toEqual([]);
      expect(complete + typed).toBe(1000);
      // The race was real: the file was swapped many times while the reads ran, and they saw several tokens.
      expect(writer.swaps).toBeGreaterThan(20);
      expect(seen.size).toBeGreaterThan(1);
    },
  );
});

describe("the data store's own token file (for discovery and JWKS) is missing", () => {
  it('fails closed with jwks_unavailable (503), not an invalid token, and sends nothing', async () => {
    const urls: string[] = [];
    const kubeFetch = createKubeFetch({ tokenSource: new FileTokenSource({ path: join(dir, 'absent', 'token') }) });
    const verifier = new LocalVerifier({
      issuers: ['https://127.0.0.1:9'],
      audience: 'data-store',
      fetch: (url, init) => {
        urls.push(url);
        return kubeFetch(url, init);
      },
    });
    const now = Math.floor(Date.now() / 1000);
    const presented = signCompact(
      { alg: 'RS256', kid: 'k' },
      {
        iss: 'https://127.0.0.1:9',
        aud: ['data-store'],
        sub: 'system:serviceaccount:api:api',
        iat: now,
        exp: now + 600,
      },
      'RS256',
      key,
    );
    await expectRejected(
      "data store's own token file missing — JWKS fetch",
      'jwks_unavailable',
      () => verifier.verify(presented),
      {
        kind: 'fault',
        expected: 'fails closed: 503, not 401/403',
      },
    );
    // One attempt, which failed on the token file itself (the cause is the typed caller-side error), before any request.
    expect(urls).toEqual(['https://127.0.0.1:9/.well-known/openid-configuration']);
    const again = await outcomeOf(() => verifier.verify(presented));
    const cause = again.verdict === 'reject' ? (again.error as Error).cause : undefined;
    expect(cause instanceof TokenSourceError ? cause.code : String(cause)).toBe('token_file_missing');
  });
});
