/**
 * The caller's side: where a service gets the token it presents (a file the kubelet rotates, re-read when it
 * changes) and how it attaches it to its requests (`withServiceAccountToken` for fetch, `grpc-credentials.ts` for
 * gRPC).
 */
import { open } from 'node:fs/promises';
import { systemClock, type Clock } from '../clock.js';
import { TokenSourceError } from '../errors.js';
import { decodeUnverified } from '../token/unverified.js';

/** Where a caller gets the token it presents. */
export interface TokenSource {
  /** The current token; never one that is already expired. */
  getToken(): Promise<string>;
}

/** Options of {@link FileTokenSource}. */
export interface FileTokenSourceOptions {
  /** e.g. `/var/run/secrets/tokens/api-token` (projected) or `/var/run/secrets/kubernetes.io/serviceaccount/token`. */
  path: string;
  /**
   * `on-change` (default) re-reads the file when its identity (inode, size, mtime) changes or the cached token is
   * expired; `always` reads it on every call, as the article's API does.
   */
  reread?: 'on-change' | 'always';
  clock?: Clock;
  /** Called after each actual read of the file (not on cache hits); e.g. to log "Refreshing service account token". */
  onRead?: (info: { path: string; expiresAt: Date | undefined }) => void;
}

interface Cached {
  signature: string;
  token: string;
  expiresAt: number | undefined;
}

/**
 * A token read from a file that the kubelet rotates. The kubelet swaps the projected volume's `..data` symlink
 * atomically, so the file is opened once per read and its identity taken from the open descriptor: a swap between
 * stat and read can never pair an old identity with new content.
 */
export class FileTokenSource implements TokenSource {
  private cached: Cached | undefined;
  private readonly clock: Clock;

  constructor(private readonly options: FileTokenSourceOptions) {
    this.clock = options.clock ?? systemClock;
  }

  async getToken(): Promise<string> {
    const handle = await open(this.options.path, 'r').catch((cause: NodeJS.ErrnoException) => {
      throw new TokenSourceError(
        cause.code === 'ENOENT' ? 'token_file_missing' : 'token_file_unreadable',
        `cannot open token file ${this.options.path}: ${cause.code ?? cause.message}`,
        { cause },
      );
    });
    try {
      const stat = await handle.stat();
      const signature = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
      const now = this.clock();
      const cached = this.cached;
      if (
        this.options.reread !== 'always' &&
        cached?.signature === signature &&
        (cached.expiresAt === undefined || now < cached.expiresAt)
      ) {
        return cached.token;
      }
      const content = await handle.readFile('utf8').catch((cause: NodeJS.ErrnoException) => {
        throw new TokenSourceError(
          'token_file_unreadable',
          `cannot read token file ${this.options.path}: ${cause.code ?? cause.message}`,
          {
            cause,
          },
        );
      });
      const token = content.trim();
      if (!token) throw new TokenSourceError('token_file_empty', `token file ${this.options.path} is empty`);
      const expiresAt = unverifiedExpiry(token);
      this.options.onRead?.({
        path: this.options.path,
        expiresAt: expiresAt === undefined ? undefined : new Date(expiresAt),
      });
      if (expiresAt !== undefined && now >= expiresAt) {
        this.cached = undefined;
        throw new TokenSourceError('token_file_expired', `the token in ${this.options.path} has expired`);
      }
      this.cached = { signature, token, expiresAt };
      return token;
    } finally {
      await handle.close();
    }
  }
}

/** A fixed token, e.g. for tests and scripts. */
export class StaticTokenSource implements TokenSource {
  constructor(private readonly token: string) {}
  async getToken(): Promise<string> {
    return this.token;
  }
}

/**
 * `exp` of a JWT in ms, read without verification: the caller only needs to know when to stop using its own token.
 * Undefined when the content is not a JWT with an `exp`.
 */
function unverifiedExpiry(token: string): number | undefined {
  const exp = decodeUnverified(token)?.payload.exp;
  return typeof exp === 'number' ? exp * 1000 : undefined;
}

/** Options of {@link withServiceAccountToken}. */
export interface TokenHeaderOptions {
  /** Header that carries the token. Default `authorization` (as `Bearer <token>`). */
  header?: string;
}

/**
 * Wraps `fetch` so that every request carries the current token from `source`: `Authorization: Bearer <token>` by
 * default, or the bare token in another header (the article's `X-Client-Id`).
 */
export function withServiceAccountToken(
  fetchImpl: typeof fetch,
  source: TokenSource,
  options: TokenHeaderOptions = {},
): typeof fetch {
  const header = (options.header ?? 'authorization').toLowerCase();
  return async (input, init) => {
    const token = await source.getToken();
    const headers = new Headers(init?.headers);
    headers.set(header, header === 'authorization' ? `Bearer ${token}` : token);
    return fetchImpl(input, { ...init, headers });
  };
}
