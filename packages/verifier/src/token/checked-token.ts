/**
 * The token: taken out of its header (`extract.ts`, every value of the header in `raw-headers.ts`, since a request
 * with two credentials is refused), its shape checked and its hash computed at most once ({@link CheckedToken}, the
 * object every layer passes on), decoded and its signature checked (`jws.ts`, with the allow-list in
 * `algorithms.ts`), and read without verification only where no decision rests on it (`unverified.ts`).
 */
import { KubeAuthError } from '../errors.js';
import { assertCompactJws, DEFAULT_MAX_TOKEN_BYTES, extractToken, type TokenScheme } from './extract.js';
import { tokenHash } from './hash.js';

/**
 * A token whose shape (size, three base64url segments) is checked at most once, with its hash computed at most once.
 * Adapters build one per request and hand it to the verifiers, so that no layer checks the shape or hashes again.
 * Only {@link CheckedToken.from} and {@link CheckedToken.fromHeader} make one, so a verifier can trust that `hash` is
 * the hash of `value`.
 *
 * A token taken from a header by {@link CheckedToken.fromHeader} defers the full shape check (a regular expression
 * over the whole token, ~1 µs for a 1 KiB token) until `value` is first read: a repeat caller's request reads only
 * `hash`, and a hit in a result cache means that the token is the very string that was verified before (SHA-256 of
 * the whole token), so its shape was checked then. Reading `value` of a token whose shape is wrong throws the same
 * error `extractToken` would have thrown (`token_malformed`, `token_too_large`). Everything cheap is still checked up
 * front: one header only, the scheme, the size bound.
 */
export class CheckedToken {
  /** The token as hashed: what follows the scheme, validated or not yet. */
  readonly #candidate: string;
  #value: string | undefined;
  #hash: string | undefined;
  /** For the deferred check: the header value and how to read it. */
  readonly #header: string | undefined;
  readonly #scheme: TokenScheme;
  readonly #maxBytes: number;
  #malformed = false;

  private constructor(
    candidate: string,
    checked: boolean,
    header?: string,
    scheme: TokenScheme = 'raw',
    maxBytes = DEFAULT_MAX_TOKEN_BYTES,
  ) {
    this.#candidate = candidate;
    if (checked) this.#value = candidate;
    this.#header = header;
    this.#scheme = scheme;
    this.#maxBytes = maxBytes;
  }

  /** Checks the shape of `token` (`token_too_large`, `token_malformed`) and wraps it. */
  static from(token: string, maxBytes: number = DEFAULT_MAX_TOKEN_BYTES): CheckedToken {
    assertCompactJws(token, maxBytes);
    return new CheckedToken(token, true);
  }

  /**
   * Takes the token out of a header value ({@link extractToken}: one token, in `scheme`, shape checked). Throws at once
   * for a missing token, more than one header, a wrong scheme or a token over `maxBytes`; the shape of the token
   * itself is checked when `value` is first read (see the class).
   */
  static fromHeader(
    headerValue: string | string[] | undefined,
    scheme: TokenScheme,
    maxBytes: number = DEFAULT_MAX_TOKEN_BYTES,
  ): CheckedToken {
    const candidate =
      typeof headerValue === 'string' && headerValue.length <= maxBytes + 16
        ? afterScheme(headerValue, scheme)
        : undefined;
    if (candidate === undefined || candidate.length === 0 || candidate.length > maxBytes) {
      return new CheckedToken(extractToken(headerValue, scheme, maxBytes), true);
    }
    return new CheckedToken(candidate, false, headerValue as string, scheme, maxBytes);
  }

  /** The token, its shape checked (on first read, for a token from a header: it throws for a malformed one). */
  get value(): string {
    if (this.#value !== undefined) return this.#value;
    try {
      this.#value = extractToken(this.#header, this.#scheme, this.#maxBytes);
    } catch (err) {
      this.#malformed = true;
      throw err;
    }
    // extractToken takes what follows the scheme, as afterScheme does: the same string, so `hash` is its hash.
    if (this.#value !== this.#candidate)
      throw new KubeAuthError('internal_error', 'token extraction disagrees with itself');
    return this.#value;
  }

  /** Length of the token in characters (bounded by the adapter's `maxTokenBytes`), without checking its shape. */
  get length(): number {
    return this.#candidate.length;
  }

  /** True once reading `value` found the token malformed: no hash of it is reported (it is not a token). */
  get malformed(): boolean {
    return this.#malformed;
  }

  /** {@link tokenHash} of the whole token, computed on first use: the key of every result cache and of events. */
  get hash(): string {
    return (this.#hash ??= tokenHash(this.#candidate));
  }

  /** True for instances made by {@link CheckedToken.from} (a brand check, not a duck type). */
  static is(value: unknown): value is CheckedToken {
    return typeof value === 'object' && value !== null && #hash in value;
  }
}

/**
 * What follows the scheme in a header value, as `extractToken` would take it when the value is well formed: for
 * `bearer`, after "Bearer" (any case) and one or more spaces; for `raw`, the value itself. Undefined when the value
 * does not start that way (extractToken then says why).
 */
function afterScheme(value: string, scheme: TokenScheme): string | undefined {
  if (scheme !== 'bearer') return value;
  // "bearer" in any case, by char code: c | 0x20 folds exactly the two cases of a letter onto the lower one.
  if (
    value.length < 8 ||
    (value.charCodeAt(0) | 0x20) !== 0x62 ||
    (value.charCodeAt(1) | 0x20) !== 0x65 ||
    (value.charCodeAt(2) | 0x20) !== 0x61 ||
    (value.charCodeAt(3) | 0x20) !== 0x72 ||
    (value.charCodeAt(4) | 0x20) !== 0x65 ||
    (value.charCodeAt(5) | 0x20) !== 0x72 ||
    value.charCodeAt(6) !== 0x20
  ) {
    return undefined;
  }
  let i = 7;
  while (value.charCodeAt(i) === 0x20) i++;
  return value.slice(i);
}

/**
 * A {@link CheckedToken} for `token`: re-uses one, else checks the shape. `maxBytes` is enforced either way, since the
 * adapter that made the token may allow more than this verifier does.
 */
export function checkToken(token: string | CheckedToken, maxBytes: number): CheckedToken {
  if (typeof token === 'string') return CheckedToken.from(token, maxBytes);
  if (!CheckedToken.is(token)) throw new KubeAuthError('token_malformed', 'not a token');
  if (token.length > maxBytes) throw new KubeAuthError('token_too_large');
  return token;
}
