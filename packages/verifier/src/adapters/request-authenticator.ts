/**
 * The adapters: how a request in some framework becomes a decision. {@link RequestAuthenticator} is the
 * framework-neutral core every adapter runs (header → checked token → verifier → policy → RBAC → outcome);
 * `authenticate.ts` offers it as plain values ({@link createAuthenticate}), `answers.ts` maps a reason to its HTTP and
 * gRPC answer, and `express.ts`, `fastify.ts` and `grpc.ts` bind it to each framework. Only these modules know
 * frameworks; the start-up checks of a route run here, once, for all of them.
 */
import { CheckedToken } from '../token/checked-token.js';
import { DEFAULT_MAX_TOKEN_BYTES, type TokenScheme } from '../token/extract.js';
import { isKubeAuthError, KubeAuthError } from '../errors.js';
import type { ServiceAccountIdentity } from '../identity/identity.js';
import type { Policy, PolicyDecision } from '../authz/policy.js';
import {
  validateAccessAttributes,
  type AccessAttributes,
  type SubjectAccessReviewer,
} from '../authz/subject-access-review.js';
import type { Verifier } from '../authn/verifier.js';
import type { MaybePromise } from '../lib/maybe-promise.js';

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
  /** Confirm every token with TokenReview (see `VerifyOptions.revocationSensitive`). */
  revocationSensitive?: boolean;
  /** Static attributes of the route for SubjectAccessReview, asked after the policy allowed the caller. */
  access?: AccessAttributes;
  /**
   * Asks the cluster's RBAC for routes with `access`: a reviewer, or a function that gives one when a route first
   * needs it (it may throw, e.g. a `ConfigError` when no API server is configured: the route's declaration fails).
   */
  accessReviewer?: SubjectAccessReviewer | (() => SubjectAccessReviewer);
}

/**
 * What one route (an HTTP route, a gRPC method) may say of its own, replacing the adapter's option of the same name.
 */
export interface RouteAuthOptions {
  /** Confirm every token of this route with TokenReview (a deleted pod or ServiceAccount is refused at once). */
  revocationSensitive?: boolean;
  /** This route's allow-list instead of the adapter's. */
  policy?: Policy;
  /**
   * What this route protects, for the cluster's RBAC (SubjectAccessReview) once the policy allowed the caller, instead
   * of the adapter's `access`: e.g. `{ verb: 'get', resource: 'records', group: 'data.example.com', namespace:
   * 'data-store' }` or `{ verb: 'get', path: '/metrics' }`. Static; needs the adapter's `accessReviewer`.
   */
  access?: AccessAttributes;
}

/** What {@link RequestAuthenticator.handle} needs to read the token: its scheme and size bound. */
export interface TokenReading {
  /** `bearer` (`Bearer <token>`, the default) or `raw` (a bare token). */
  scheme?: TokenScheme;
  /** Longest token accepted, in bytes. Default 8192. */
  maxTokenBytes?: number;
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
  private readonly settle = (identity: ServiceAccountIdentity): MaybePromise<AuthOutcome> =>
    this.authorize(this.decide(identity));
  private readonly fail = (err: unknown): AuthOutcome => failure(err);
  private readonly access: AccessAttributes | undefined;
  private readonly accessReviewer: SubjectAccessReviewer | undefined;

  private readonly scheme: TokenScheme;
  private readonly maxTokenBytes: number;

  /**
   * Builds the core of one route, where the route is declared: a route that cannot work throws here (a
   * revocation-sensitive route without a verifier that can confirm, attributes without a reviewer), so that the
   * service stops at start-up instead of failing each request. The checks are the same for every adapter.
   */
  constructor(options: RequestAuthenticatorOptions & TokenReading) {
    this.verifier = options.verifier;
    this.policy = options.policy;
    this.scheme = options.scheme ?? 'bearer';
    this.maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
    this.verifyOptions = { revocationSensitive: options.revocationSensitive === true };
    // A route that asks for revocation checks must never silently get less.
    if (options.revocationSensitive) options.verifier.requireReview();
    this.access = options.access ? validateAccessAttributes(options.access) : undefined;
    // Only a route that states attributes needs a reviewer: only then is a factory asked for one (and may throw).
    const reviewer = options.accessReviewer;
    this.accessReviewer = this.access ? (typeof reviewer === 'function' ? reviewer() : reviewer) : undefined;
    if (this.access && !this.accessReviewer)
      throw new TypeError('a route with access attributes needs an accessReviewer');
  }

  /** The core of a route with options of its own (see {@link RouteAuthOptions}), checked as any route is. */
  static forRoute(options: RequestAuthenticatorOptions & TokenReading, route: RouteAuthOptions): RequestAuthenticator {
    return new RequestAuthenticator({
      ...options,
      policy: route.policy ?? options.policy,
      revocationSensitive: route.revocationSensitive ?? options.revocationSensitive,
      access: route.access ?? options.access,
    });
  }

  /**
   * One request, from every value of its token header to `finish(outcome, token)`: called before `handle` returns
   * for a repeat caller, or once the outcome settles. The adapters' one sync-or-promise step: `finish` runs outside
   * any try of the verification, so a throwing hook is the application's error — thrown to the framework at once,
   * or given to `onLateError` when it throws after the wait — never a rejection, never a pass.
   */
  handle(
    headerValue: string | string[] | undefined,
    finish: (outcome: AuthOutcome, token: CheckedToken | undefined) => void,
    onLateError: (err: unknown) => void,
  ): void {
    let token: CheckedToken;
    try {
      token = this.readToken(headerValue);
    } catch (err) {
      finish(failure(err), undefined);
      return;
    }
    const outcome = this.authenticate(token);
    if (outcome instanceof Promise) {
      outcome.then((settled) => finish(settled, token)).catch(onLateError);
      return;
    }
    finish(outcome, token);
  }

  /** The token of a request, from every value of its header: throws `token_missing`, `token_malformed`… */
  readToken(headerValue: string | string[] | undefined): CheckedToken {
    return CheckedToken.fromHeader(headerValue, this.scheme, this.maxTokenBytes);
  }

  /** The outcome for a checked token: synchronous for a repeat caller, a promise otherwise. Never rejects. */
  authenticate(token: CheckedToken): MaybePromise<AuthOutcome> {
    let identity: MaybePromise<ServiceAccountIdentity>;
    try {
      identity = this.verifier.check(token, this.verifyOptions);
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
  private authorize(outcome: AuthOutcome): MaybePromise<AuthOutcome> {
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
