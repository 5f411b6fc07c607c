import type { CheckedToken } from './checked-token.js';
import { isKubeAuthError, KubeAuthError } from './errors.js';
import type { ServiceAccountIdentity } from './identity.js';
import type { Policy, PolicyDecision } from './policy.js';
import {
  validateAccessAttributes,
  type AccessAttributes,
  type SubjectAccessReviewer,
} from './subject-access-review.js';
import type { Verifier } from './verifier.js';

/** What an adapter puts on the request for an accepted caller (express: `req.kubeAuth`). Frozen; may be shared. */
export interface KubeAuthResult {
  identity: ServiceAccountIdentity;
  decision: Extract<PolicyDecision, { allowed: true }>;
}

/** The decision on one request: allowed with its result, or refused with a {@link KubeAuthError}. */
export type AuthOutcome =
  | { readonly allowed: true; readonly result: KubeAuthResult }
  | { readonly allowed: false; readonly error: KubeAuthError; readonly identity?: ServiceAccountIdentity };

/** Options of {@link RequestAuthenticator}. */
export interface RequestAuthenticatorOptions {
  verifier: Verifier;
  policy: Policy;
  /** Confirm every token with TokenReview (see {@link VerifyOptions.revocationSensitive}). */
  revocationSensitive?: boolean;
  /** Static attributes of the route for SubjectAccessReview, asked after the policy allowed the caller. */
  access?: AccessAttributes;
  accessReviewer?: SubjectAccessReviewer;
}

/**
 * The framework-neutral core of every adapter: a checked token in, an {@link AuthOutcome} out. A repeat caller is
 * answered synchronously (no promise, no allocation: the verifier's cache returns a frozen identity, and the outcome
 * for that identity under this policy is remembered with it); only a miss returns a promise. Never throws and never
 * rejects: anything unexpected is an `internal_error` outcome (kind `unavailable`), never a pass.
 */
export class RequestAuthenticator {
  private readonly verifier: Verifier;
  private readonly policy: Policy;
  private readonly verifyOptions: { revocationSensitive: boolean };
  // Allowed outcomes remembered per (frozen, cached) identity: they cannot change while the identity is the same object.
  private readonly decided = new WeakMap<ServiceAccountIdentity, AuthOutcome>();
  private readonly settle = (identity: ServiceAccountIdentity): AuthOutcome | Promise<AuthOutcome> =>
    this.authorize(this.decide(identity));
  private readonly fail = (err: unknown): AuthOutcome => failure(err);
  private readonly access: AccessAttributes | undefined;
  private readonly accessReviewer: SubjectAccessReviewer | undefined;

  constructor(options: RequestAuthenticatorOptions) {
    this.verifier = options.verifier;
    this.policy = options.policy;
    this.verifyOptions = { revocationSensitive: options.revocationSensitive === true };
    this.access = options.access ? validateAccessAttributes(options.access) : undefined;
    this.accessReviewer = options.accessReviewer;
    if (this.access && !this.accessReviewer)
      throw new TypeError('a route with access attributes needs an accessReviewer');
    // A route that asks for revocation checks must never silently get less: refused where the route is declared (at
    // start-up for express and fastify), not on each request. A verifier that does not say (`canReview` absent, e.g. the
    // watch verifier) is trusted to check revocation itself.
    if (options.revocationSensitive && (options.verifier as { canReview?: unknown }).canReview === false) {
      throw new TypeError(
        'a revocation-sensitive route needs a verifier that can ask TokenReview (none is configured)',
      );
    }
  }

  authenticate(token: CheckedToken): AuthOutcome | Promise<AuthOutcome> {
    let identity: ServiceAccountIdentity | Promise<ServiceAccountIdentity>;
    try {
      identity = this.verifier.check
        ? this.verifier.check(token, this.verifyOptions)
        : this.verifier.verify(token, this.verifyOptions);
    } catch (err) {
      return failure(err);
    }
    if (identity instanceof Promise) return identity.then(this.settle, this.fail);
    return this.authorize(this.decide(identity));
  }

  /**
   * The cluster's RBAC, asked after the policy allowed the caller (never cached with the outcome: RBAC changes while
   * the identity stays the same). Synchronous when the reviewer has the answer cached.
   */
  private authorize(outcome: AuthOutcome): AuthOutcome | Promise<AuthOutcome> {
    if (!outcome.allowed || !this.access || !this.accessReviewer) return outcome;
    const identity = outcome.result.identity;
    const refused = (err: unknown): AuthOutcome => {
      const denied = failure(err);
      return denied.allowed ? denied : { allowed: false, error: denied.error, identity };
    };
    try {
      const pending = this.accessReviewer.check(identity, this.access);
      return pending ? pending.then(() => outcome, refused) : outcome;
    } catch (err) {
      return refused(err);
    }
  }

  private decide(identity: ServiceAccountIdentity): AuthOutcome {
    const known = this.decided.get(identity);
    if (known !== undefined) return known;
    let outcome: AuthOutcome;
    try {
      const decision = this.policy.decide(identity);
      outcome = decision.allowed
        ? Object.freeze({ allowed: true, result: Object.freeze({ identity, decision: Object.freeze(decision) }) })
        : Object.freeze({
            allowed: false,
            error: new KubeAuthError('identity_not_allowed', `${identity.username} is not allowed`),
            identity,
          });
    } catch (err) {
      return failure(err);
    }
    // Only allowed outcomes are shared: a refusal carries a fresh error, which the adapter's hooks may hold on to.
    if (outcome.allowed && Object.isFrozen(identity)) this.decided.set(identity, outcome);
    return outcome;
  }
}

/** The outcome for an error thrown while deciding: its own reason when it is ours, else `internal_error`. */
export function failure(err: unknown): AuthOutcome {
  const error = isKubeAuthError(err)
    ? err
    : new KubeAuthError('internal_error', 'the verifier failed unexpectedly', { cause: err });
  return { allowed: false, error };
}
