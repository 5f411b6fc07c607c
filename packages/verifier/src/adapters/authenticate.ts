import { grpcAnswer, httpAnswer, type GrpcAnswer, type HttpAnswer } from './answers.js';
import type { CheckedToken } from '../token/checked-token.js';
import { chain, type MaybePromise } from '../lib/maybe-promise.js';
import type { KubeAuthError, ReasonCode, ReasonKind } from '../errors.js';
import type { ServiceAccountIdentity } from '../identity/identity.js';
import type { PolicyDecision } from '../authz/policy.js';
import {
  failure,
  RequestAuthenticator,
  type AuthOutcome,
  type KubeAuthResult,
  type RequestAuthenticatorOptions,
} from './request-authenticator.js';
import type { TokenScheme } from '../token/extract.js';

/** One decision, as an adapter reports it to its `onDecision` hook. Never holds a token. */
export interface AuthDecisionEvent {
  outcome: 'allowed' | 'rejected';
  /** `identity_allowed`/`group_allowed` when allowed, else the reason code. */
  reason: ReasonCode | 'identity_allowed' | 'group_allowed';
  identity?: ServiceAccountIdentity;
  /** sha256 of the token (base64url): correlates requests without revealing the credential. */
  tokenHash?: string;
  /** The HTTP method, or `grpc` for a gRPC call. */
  method: string;
  /** The HTTP path, or the gRPC method path (`/package.Service/Method`). */
  path: string;
  durationMs: number;
}

/** The request as {@link createAuthenticate}'s function takes it: plain values, no framework types. */
export interface PlainRequest {
  /**
   * Every value of the token header (or gRPC metadata key) the request carried: a string, an array when it was sent
   * more than once (refused: `token_malformed`), or undefined.
   */
  token: string | string[] | undefined;
  method?: string;
  path?: string;
}

/** A refused request: the reason, how it is answered, and the answer in HTTP and gRPC terms. */
export interface Rejection {
  readonly ok: false;
  readonly reason: ReasonCode;
  readonly kind: ReasonKind;
  readonly error: KubeAuthError;
  /** The authenticated caller, when the policy refused it (`identity_not_allowed`). */
  readonly identity: ServiceAccountIdentity | undefined;
  readonly http: HttpAnswer;
  readonly grpc: GrpcAnswer;
}

/** An accepted request: the caller and the rule that allowed it. */
export interface Acceptance {
  readonly ok: true;
  readonly identity: ServiceAccountIdentity;
  readonly decision: Extract<PolicyDecision, { allowed: true }>;
  /** What the adapters put on the request (`kubeAuth`): `{ identity, decision }`, frozen. */
  readonly result: KubeAuthResult;
}

export type Authentication = Acceptance | Rejection;

/**
 * The options every adapter takes (the express middleware, the fastify plugin, the gRPC interceptor and
 * {@link createAuthenticate}): the verifier, the policy, revocation and SubjectAccessReview settings, how the token is
 * carried, its size bound and the decision hook.
 */
export interface CommonAuthOptions extends RequestAuthenticatorOptions {
  /** How the token is carried: `bearer` (`Bearer <token>`, the default) or `raw` (a bare token in a custom header). */
  scheme?: TokenScheme;
  /** Longest token accepted, in bytes. Default 8192. */
  maxTokenBytes?: number;
  /** Called once per request with the outcome, e.g. to log or count. A throwing hook throws out of the call. */
  onDecision?: (event: AuthDecisionEvent) => void;
}

/** Options of {@link createAuthenticate} (and, through it, of the HTTP adapters): the common ones plus the realm. */
export interface AuthenticateOptions extends CommonAuthOptions {
  /** `realm` of the `WWW-Authenticate` challenge in {@link Rejection.http}. Default `kube-service-auth`. */
  realm?: string;
}

/**
 * The framework-neutral entry: a function from a {@link PlainRequest} to an {@link Authentication}. Build it once per
 * service (or route) and call it per request; `await` its result. A repeat caller is answered synchronously (the
 * result is not a promise), a new token returns a promise. Never throws for a bad token or a failing verifier: those
 * are rejections (an outage is `unavailable`, never a pass).
 *
 * ```ts
 * const authenticate = createAuthenticate({ verifier, policy });
 * const auth = await authenticate({ token: headers.authorization, method: 'GET', path: '/data' });
 * if (!auth.ok) return reply(auth.http.status, auth.http.headers, auth.http.body);
 * ```
 */
export function createAuthenticate(
  options: AuthenticateOptions,
): (request: PlainRequest) => Authentication | Promise<Authentication> {
  const scheme = options.scheme ?? 'bearer';
  const answer = { realm: options.realm, scheme };
  const onDecision = options.onDecision;
  const core = new RequestAuthenticator({ ...options, scheme });
  const accepted = new WeakMap<KubeAuthResult, Acceptance>();

  const finish = (
    request: PlainRequest,
    outcome: AuthOutcome,
    token: CheckedToken | undefined,
    started: number,
  ): Authentication => {
    if (onDecision) onDecision(decisionEvent(outcome, request.method ?? '', request.path ?? '', token, started));
    if (outcome.allowed) {
      // Cached outcomes are shared objects: so are their acceptances, to keep the repeat caller allocation-free.
      let acceptance = accepted.get(outcome.result);
      if (acceptance === undefined) {
        const { identity, decision } = outcome.result;
        acceptance = Object.freeze({ ok: true as const, identity, decision, result: outcome.result });
        accepted.set(outcome.result, acceptance);
      }
      return acceptance;
    }
    return rejection(outcome.error, outcome.identity, answer);
  };

  return function authenticate(request: PlainRequest): MaybePromise<Authentication> {
    const started = onDecision ? performance.now() : 0;
    let token: CheckedToken;
    try {
      token = core.readToken(request.token);
    } catch (err) {
      return finish(request, failure(err), undefined, started);
    }
    return chain(core.authenticate(token), (outcome) => finish(request, outcome, token, started));
  };
}

/** A {@link Rejection} for `error`, with its HTTP and gRPC answers. */
export function rejection(
  error: KubeAuthError,
  identity?: ServiceAccountIdentity,
  options?: { realm?: string; scheme?: TokenScheme },
): Rejection {
  return Object.freeze({
    ok: false as const,
    reason: error.code,
    kind: error.kind,
    error,
    identity,
    http: httpAnswer(error, options),
    grpc: grpcAnswer(error),
  });
}

/** The {@link AuthDecisionEvent} of an outcome. `started` is a `performance.now()` reading. */
export function decisionEvent(
  outcome: AuthOutcome,
  method: string,
  path: string,
  token: CheckedToken | undefined,
  started: number,
): AuthDecisionEvent {
  const event: AuthDecisionEvent = outcome.allowed
    ? {
        outcome: 'allowed',
        reason: outcome.result.decision.reason,
        method,
        path,
        durationMs: performance.now() - started,
      }
    : { outcome: 'rejected', reason: outcome.error.code, method, path, durationMs: performance.now() - started };
  const identity = outcome.allowed ? outcome.result.identity : outcome.identity;
  if (identity) event.identity = identity;
  // The hash is the one the caches computed (a CheckedToken hashes at most once); a malformed value is not a token.
  if (token && !token.malformed) event.tokenHash = token.hash;
  return event;
}
