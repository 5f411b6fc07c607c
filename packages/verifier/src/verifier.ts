import type { CheckedToken } from './checked-token.js';
import { KubeAuthError } from './errors.js';
import type { ServiceAccountIdentity } from './identity.js';
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
  check?(token: string | CheckedToken, options?: VerifyOptions): ServiceAccountIdentity | Promise<ServiceAccountIdentity>;
}

/** Options of {@link ServiceAccountVerifier}. */
export interface ServiceAccountVerifierOptions {
  mode: VerificationMode;
  /** Required in `local` mode. */
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
    if (this.mode === 'tokenreview' && !this.tokenReview) throw new Error('tokenreview mode needs a TokenReviewVerifier');
  }

  async verify(token: string | CheckedToken, options: VerifyOptions = {}): Promise<ServiceAccountIdentity> {
    return this.check(token, options);
  }

  check(token: string | CheckedToken, options: VerifyOptions = {}): ServiceAccountIdentity | Promise<ServiceAccountIdentity> {
    if (this.mode === 'tokenreview') return (this.tokenReview as TokenReviewVerifier).check(token);
    const identity = (this.local as LocalVerifier).check(token);
    if (!options.revocationSensitive) return identity;
    if (identity instanceof Promise) return identity.then((local) => this.confirm(token, local));
    return this.confirm(token, identity);
  }

  private confirm(token: string | CheckedToken, identity: ServiceAccountIdentity): ServiceAccountIdentity | Promise<ServiceAccountIdentity> {
    if (!this.tokenReview) {
      // A route that asks for revocation checks must never silently get less.
      throw new KubeAuthError('tokenreview_unavailable', 'this route needs TokenReview, and no TokenReview client is configured');
    }
    const reviewed = this.tokenReview.check(token);
    if (reviewed instanceof Promise) return reviewed.then((r) => combine(identity, r));
    return combine(identity, reviewed);
  }
}

function combine(identity: ServiceAccountIdentity, reviewed: ServiceAccountIdentity): ServiceAccountIdentity {
  // Both views must describe the same caller; a disagreement means the object the token names is not the one that
  // exists now (e.g. a ServiceAccount recreated with a new uid).
  if (
    reviewed.username !== identity.username ||
    (reviewed.serviceAccount.uid && reviewed.serviceAccount.uid !== identity.serviceAccount.uid) ||
    reviewed.pod?.uid !== identity.pod?.uid
  ) {
    throw new KubeAuthError('tokenreview_rejected', 'the API server describes a different caller than the token');
  }
  return freezeIdentity({ ...identity, groups: reviewed.groups, verifiedBy: 'tokenreview' });
}
