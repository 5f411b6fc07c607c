import type { CheckedToken } from './checked-token.js';
import { KubeAuthError } from './errors.js';
import { sameCaller, type ServiceAccountIdentity } from './identity.js';
import { freezeIdentity } from './immutable-identity.js';
import type { LocalVerifier } from './local-verifier.js';
import type { TokenReviewVerifier } from './token-review.js';

/** `local`: offline JWKS verification. `tokenreview`: every token is reviewed by the API server. */
export type VerificationMode = 'local' | 'tokenreview';

/** Per-call options of {@link Verifier.verify}. */
export interface VerifyOptions {
  /**
   * The route must not accept a token whose pod or ServiceAccount is gone. In local mode the token is verified
   * offline first (so garbage never reaches the API server), then confirmed by TokenReview.
   */
  revocationSensitive?: boolean;
}

/** What the express middleware and services call: a token in, an identity out, or a {@link KubeAuthError}. */
export interface Verifier {
  readonly mode: VerificationMode;
  verify(token: string | CheckedToken, options?: VerifyOptions): Promise<ServiceAccountIdentity>;
  /**
   * Optional. As `verify`, but returns the identity synchronously when it can (a cache hit: a repeat caller), a
   * promise otherwise; errors are thrown or rejected. Adapters use it to answer repeat callers without a promise.
   */
  check?(
    token: string | CheckedToken,
    options?: VerifyOptions,
  ): ServiceAccountIdentity | Promise<ServiceAccountIdentity>;
}

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
}

/** Chooses local verification or TokenReview per the configured mode and per call. */
export class ServiceAccountVerifier implements Verifier {
  readonly mode: VerificationMode;
  readonly local: LocalVerifier | undefined;
  readonly tokenReview: TokenReviewVerifier | undefined;

  constructor(options: ServiceAccountVerifierOptions) {
    this.mode = options.mode;
    this.local = options.local;
    this.tokenReview = options.tokenReview;
    if (this.mode === 'local' && !this.local) throw new Error('local mode needs a LocalVerifier');
    if (this.mode === 'tokenreview' && !this.tokenReview)
      throw new Error('tokenreview mode needs a TokenReviewVerifier');
  }

  /** True when revocation-sensitive routes can be served (a TokenReview verifier is configured). */
  get canReview(): boolean {
    return this.tokenReview !== undefined;
  }

  async verify(token: string | CheckedToken, options: VerifyOptions = {}): Promise<ServiceAccountIdentity> {
    return this.check(token, options);
  }

  check(
    token: string | CheckedToken,
    options: VerifyOptions = {},
  ): ServiceAccountIdentity | Promise<ServiceAccountIdentity> {
    if (this.mode === 'tokenreview') {
      if (!this.local) return (this.tokenReview as TokenReviewVerifier).check(token);
      const offline = this.precheck(token);
      if (offline instanceof Promise) return offline.then((o) => this.confirm(token, o));
      return this.confirm(token, offline);
    }
    const identity = (this.local as LocalVerifier).check(token);
    if (!options.revocationSensitive) return identity;
    if (identity instanceof Promise) return identity.then((local) => this.confirm(token, local));
    return this.confirm(token, identity);
  }

  /**
   * The offline verdict in `tokenreview` mode. Undefined when the keys cannot be had (an outage, or an issuer whose
   * key set cannot be used as configured): the review then decides alone, as it did before the pre-check existed.
   * Only a verdict on the token itself (kind `invalid`) refuses it here.
   */
  private precheck(
    token: string | CheckedToken,
  ): ServiceAccountIdentity | undefined | Promise<ServiceAccountIdentity | undefined> {
    let offline: ServiceAccountIdentity | Promise<ServiceAccountIdentity>;
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
  ): ServiceAccountIdentity | Promise<ServiceAccountIdentity> {
    if (!this.tokenReview) {
      // A route that asks for revocation checks must never silently get less. createKubeAuth refuses such a route at
      // start-up; this guards a hand-built verifier.
      throw new KubeAuthError(
        'tokenreview_unavailable',
        'this route needs TokenReview, and no TokenReview client is configured',
      );
    }
    const reviewed = this.tokenReview.check(token);
    if (reviewed instanceof Promise) return reviewed.then((r) => this.combine(offline, r));
    return this.combine(offline, reviewed);
  }

  private combine(
    offline: ServiceAccountIdentity | undefined,
    reviewed: ServiceAccountIdentity,
  ): ServiceAccountIdentity {
    if (!offline) return reviewed;
    // Both views must describe the same caller (see sameCaller): a disagreement means the object the token names is not
    // the one that exists now (e.g. a ServiceAccount recreated with a new uid).
    if (!sameCaller(offline, reviewed)) {
      throw new KubeAuthError('tokenreview_rejected', 'the API server describes a different caller than the token');
    }
    return this.mode === 'tokenreview'
      ? reviewed
      : freezeIdentity({ ...offline, groups: reviewed.groups, verifiedBy: 'tokenreview' });
  }
}

/** Lets the review decide alone when the pre-check could not judge the token (no usable keys); rethrows a verdict. */
function keysUnavailable(err: unknown): undefined {
  if (err instanceof KubeAuthError && (err.kind === 'unavailable' || err.kind === 'misconfigured')) return undefined;
  throw err;
}
