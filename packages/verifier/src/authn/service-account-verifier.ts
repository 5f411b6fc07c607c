import { KubeAuthError } from '../errors.js';
import type { ServiceAccountIdentity } from '../identity/identity.js';
import { chain, type MaybePromise } from '../lib/maybe-promise.js';
import type { CheckedToken } from '../token/checked-token.js';
import { confirmByReview } from './confirm.js';
import type { LocalVerifier } from './local-verifier.js';
import type { TokenReviewVerifier } from './token-review.js';
import type { VerificationMode, Verifier, VerifyOptions } from './verifier.js';

/** Options of {@link ServiceAccountVerifier}. */
export interface ServiceAccountVerifierOptions {
  mode: VerificationMode;
  /**
   * Required in `local` mode. In `tokenreview` mode it is the pre-check: every token is verified offline first
   * (signature, issuer, audience, times, binding), so garbage and forgeries never reach the API server; the review
   * still decides. When the issuer's keys cannot be had (`jwks_unavailable`, `issuer_misconfigured`, `key_unusable`),
   * the review alone decides.
   */
  local?: LocalVerifier;
  /** Required in `tokenreview` mode, and in `local` mode for revocation-sensitive routes. */
  tokenReview?: TokenReviewVerifier;
  /**
   * Why revocation-sensitive routes cannot be served when no `tokenReview` is given: thrown by
   * {@link ServiceAccountVerifier.requireReview} where such a route is declared. Default a `TypeError`; the
   * environment's configuration gives a `ConfigError` naming the variable to set.
   */
  reviewUnavailable?: Error;
}

/** Chooses local verification or TokenReview per the configured mode and per call. */
export class ServiceAccountVerifier implements Verifier {
  readonly mode: VerificationMode;
  readonly local: LocalVerifier | undefined;
  readonly tokenReview: TokenReviewVerifier | undefined;
  readonly #reviewUnavailable: Error | undefined;

  constructor(options: ServiceAccountVerifierOptions) {
    this.mode = options.mode;
    this.local = options.local;
    this.tokenReview = options.tokenReview;
    this.#reviewUnavailable = options.reviewUnavailable;
    if (this.mode === 'local' && !this.local) throw new TypeError('local mode needs a LocalVerifier');
    if (this.mode === 'tokenreview' && !this.tokenReview)
      throw new TypeError('tokenreview mode needs a TokenReviewVerifier');
  }

  /** True when revocation-sensitive routes can be served (a TokenReview verifier is configured). */
  get canReview(): boolean {
    return this.tokenReview !== undefined;
  }

  requireReview(): void {
    if (this.tokenReview) return;
    throw (
      this.#reviewUnavailable ??
      new TypeError('a revocation-sensitive route needs a verifier that can ask TokenReview (none is configured)')
    );
  }

  async verify(token: string | CheckedToken, options: VerifyOptions = {}): Promise<ServiceAccountIdentity> {
    return this.check(token, options);
  }

  check(token: string | CheckedToken, options: VerifyOptions = {}): MaybePromise<ServiceAccountIdentity> {
    if (this.mode === 'tokenreview') {
      if (!this.local) return (this.tokenReview as TokenReviewVerifier).check(token);
      return chain(this.precheck(token), (offline) => this.confirm(token, offline, 'review'));
    }
    const identity = (this.local as LocalVerifier).check(token);
    if (!options.revocationSensitive) return identity;
    return chain(identity, (offline) => this.confirm(token, offline, 'offline'));
  }

  /**
   * The offline verdict in `tokenreview` mode. Undefined when the keys cannot be had (an outage, or an issuer whose
   * key set cannot be used as configured): the review then decides alone, as it did before the pre-check existed.
   * Only a verdict on the token itself (kind `invalid`) refuses it here.
   */
  private precheck(token: string | CheckedToken): MaybePromise<ServiceAccountIdentity | undefined> {
    let offline: MaybePromise<ServiceAccountIdentity>;
    try {
      offline = (this.local as LocalVerifier).check(token);
    } catch (err) {
      return keysUnavailable(err);
    }
    return offline instanceof Promise ? offline.catch(keysUnavailable) : offline;
  }

  private confirm(
    token: string | CheckedToken,
    offline: ServiceAccountIdentity | undefined,
    keep: 'offline' | 'review',
  ): MaybePromise<ServiceAccountIdentity> {
    if (!this.tokenReview) {
      // A route that asks for revocation checks must never silently get less: refused where the route is declared
      // (requireReview); this guards a call made without an adapter.
      throw new KubeAuthError(
        'tokenreview_unavailable',
        'this route needs TokenReview, and no TokenReview client is configured',
      );
    }
    return chain(this.tokenReview.check(token), (reviewed) => confirmByReview(offline, reviewed, keep));
  }
}

/** Lets the review decide alone when the pre-check could not judge the token (no usable keys); rethrows a verdict. */
function keysUnavailable(err: unknown): undefined {
  if (err instanceof KubeAuthError && (err.kind === 'unavailable' || err.kind === 'misconfigured')) return undefined;
  throw err;
}
