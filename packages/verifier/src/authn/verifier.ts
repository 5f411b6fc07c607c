/**
 * Authentication: a token in, a {@link ServiceAccountIdentity} out, or a {@link KubeAuthError} with its reason. One
 * interface, {@link Verifier}, implemented by each way of checking a token and by the decorators that combine them,
 * as the Kubernetes authenticators do (`authenticator.Token`, wrapped by the cached and union authenticators):
 *
 * - {@link LocalVerifier}: offline, against the issuer's published keys (`local-verifier.ts`);
 * - {@link TokenReviewVerifier}: the API server decides (`token-review.ts`);
 * - {@link ServiceAccountVerifier}: the mode chosen by configuration, and TokenReview confirmation of
 *   revocation-sensitive calls (`service-account-verifier.ts`, with the one confirmation rule in `confirm.ts`);
 * - {@link WatchRevocationVerifier} (in `revocation/`): a local verifier plus the watch of the callers' pods.
 */
import type { ServiceAccountIdentity } from '../identity/identity.js';
import type { MaybePromise } from '../lib/maybe-promise.js';
import type { CheckedToken } from '../token/checked-token.js';

/** `local`: offline JWKS verification. `tokenreview`: every token is reviewed by the API server. */
export type VerificationMode = 'local' | 'tokenreview';

/** Per-call options of {@link Verifier.verify} and {@link Verifier.check}. */
export interface VerifyOptions {
  /**
   * The route must not accept a token whose pod or ServiceAccount is gone. In local mode the token is verified
   * offline first (so garbage never reaches the API server), then confirmed by TokenReview. A verifier that cannot
   * confirm ({@link Verifier.canReview} false) refuses such a call, never answers it with less.
   */
  revocationSensitive?: boolean;
}

/** What the adapters and services call: a token in, an identity out, or a {@link KubeAuthError}. */
export interface Verifier {
  readonly mode: VerificationMode;
  /** True when revocation-sensitive calls can be served (by TokenReview, or by a revocation watch). */
  readonly canReview: boolean;
  /**
   * Throws why revocation-sensitive calls cannot be served (a `ConfigError` naming the variable to set when the
   * environment built this verifier); returns when they can. Adapters call it where such a route is declared, so a
   * route that would fail every request stops the service at start-up instead.
   */
  requireReview(): void;
  verify(token: string | CheckedToken, options?: VerifyOptions): Promise<ServiceAccountIdentity>;
  /**
   * As `verify`, but returns the identity synchronously when it can (a cache hit: a repeat caller), a promise
   * otherwise; errors are thrown or rejected. The returned identity is frozen: it may be shared between requests.
   */
  check(token: string | CheckedToken, options?: VerifyOptions): MaybePromise<ServiceAccountIdentity>;
}
