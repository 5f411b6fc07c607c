import { KubeAuthError } from './errors.js';
import { assertCompactJws, DEFAULT_MAX_TOKEN_BYTES, extractToken, type TokenScheme } from './token.js';
import { tokenHash } from './token-hash.js';

/**
 * A token whose shape (size, three base64url segments) has been checked once, with its hash computed at most once.
 * Adapters build one per request and hand it to the verifiers, so that no layer checks the shape or hashes again.
 * Only {@link CheckedToken.from} makes one, so a verifier can trust that `hash` is the hash of `value`.
 */
export class CheckedToken {
  readonly value: string;
  #hash: string | undefined;

  private constructor(value: string) {
    this.value = value;
  }

  /** Checks the shape of `token` (`token_too_large`, `token_malformed`) and wraps it. */
  static from(token: string, maxBytes: number = DEFAULT_MAX_TOKEN_BYTES): CheckedToken {
    assertCompactJws(token, maxBytes);
    return new CheckedToken(token);
  }

  /** Takes the token out of a header value ({@link extractToken}: one token, in `scheme`, shape checked). */
  static fromHeader(headerValue: string | string[] | undefined, scheme: TokenScheme, maxBytes: number = DEFAULT_MAX_TOKEN_BYTES): CheckedToken {
    return new CheckedToken(extractToken(headerValue, scheme, maxBytes));
  }

  /** {@link tokenHash} of the whole token, computed on first use: the key of every result cache and of events. */
  get hash(): string {
    return (this.#hash ??= tokenHash(this.value));
  }

  /** True for instances made by {@link CheckedToken.from} (a brand check, not a duck type). */
  static is(value: unknown): value is CheckedToken {
    return typeof value === 'object' && value !== null && #hash in value;
  }
}

/**
 * A {@link CheckedToken} for `token`: re-uses one, else checks the shape. `maxBytes` is enforced either way, since the
 * adapter that made the token may allow more than this verifier does.
 */
export function checkToken(token: string | CheckedToken, maxBytes: number): CheckedToken {
  if (typeof token === 'string') return CheckedToken.from(token, maxBytes);
  if (!CheckedToken.is(token)) throw new KubeAuthError('token_malformed', 'not a token');
  if (token.value.length > maxBytes) throw new KubeAuthError('token_too_large');
  return token;
}
