/**
 * The public API of the root entry: what the README documents, and the types of those signatures. Everything else is
 * internal and may change; the framework adapters are the ./express, ./fastify and ./grpc entries.
 *
 * The folders follow a request: `token/` (the token out of its header, decoded and its signature checked) →
 * `keys/` (the issuer's discovery document and key set) → `authn/` (verifiers: local, TokenReview, both) →
 * `revocation/` (the watch of the callers' pods) → `authz/` (allow-list, RBAC) → `identity/` (who called). Around
 * them: `adapters/` (express, fastify, gRPC, framework-neutral), `config/` (the environment), `kube/` (the API
 * server), `client/` (the caller's side: its rotating token), `lib/` (internals shared by several folders).
 */
export {
  REASONS,
  KubeAuthError,
  isKubeAuthError,
  ConfigError,
  TokenSourceError,
  type ReasonCode,
  type ReasonKind,
  type TokenSourceErrorCode,
} from './errors.js';
export type { Clock } from './clock.js';
export type { MaybePromise } from './lib/maybe-promise.js';
export type { VerifierEvent, EventListener } from './events.js';

export { tokenHash } from './token/hash.js';
export { CheckedToken } from './token/checked-token.js';
export type { TokenScheme } from './token/extract.js';
export { decodeUnverified, type UnverifiedToken } from './token/unverified.js';

export {
  acceptedAudiences,
  cacheUntil,
  checkBinding,
  identityFromClaims,
  identityFromReview,
  identityToUserInfo,
  sameCaller,
  type BindingRequirements,
  type BoundObject,
  type ReviewContext,
  type ReviewedUser,
  type ServiceAccountIdentity,
} from './identity/identity.js';

export type { Verifier, VerifyOptions, VerificationMode } from './authn/verifier.js';
export {
  LocalVerifier,
  type LocalVerifierOptions,
  type IssuerConfig,
  type JwksTuning,
} from './authn/local-verifier.js';
export { TokenReviewVerifier, type TokenReviewVerifierOptions } from './authn/token-review.js';
export { ServiceAccountVerifier, type ServiceAccountVerifierOptions } from './authn/service-account-verifier.js';

export {
  BoundObjectWatch,
  type BoundObjectWatchOptions,
  type ObjectLookup,
  type WatchedResource,
  type WatchStatusEvent,
} from './revocation/bound-object-watch.js';
export {
  RevocationChecker,
  judgeBoundObject,
  tokenBinding,
  DELETION_LEEWAY_MS,
  type RevocationCheckerOptions,
  type RevocationVerdict,
  type TokenBinding,
} from './revocation/revocation-checker.js';
export { WatchRevocationVerifier, type WatchRevocationVerifierOptions } from './revocation/watch-verifier.js';

export { Policy, type PolicyOptions, type PolicyDecision } from './authz/policy.js';
export {
  SubjectAccessReviewer,
  validateAccessAttributes,
  type AccessAttributes,
  type SubjectAccessReviewerOptions,
} from './authz/subject-access-review.js';
export { admittedNamespaces } from './authz/admitted-namespaces.js';

export {
  RequestAuthenticator,
  type RequestAuthenticatorOptions,
  type TokenReading,
  type RouteAuthOptions,
  type AuthOutcome,
  type KubeAuthResult,
} from './adapters/request-authenticator.js';
export {
  createAuthenticate,
  type AuthenticateOptions,
  type CommonAuthOptions,
  type PlainRequest,
  type Authentication,
  type Acceptance,
  type Rejection,
  type AuthDecisionEvent,
} from './adapters/authenticate.js';
export type { HttpAnswer, GrpcAnswer } from './adapters/answers.js';

export { loadConfig, type KubeAuthConfig } from './config/env.js';
export {
  createKubeAuth,
  kubeAuthFromEnv,
  type KubeAuthDependencies,
  type KubeAuth,
  type KubeAuthAdapterOptions,
} from './config/kube-auth.js';

export { createKubeFetch, type FetchLike, type KubeFetchOptions } from './kube/http.js';
export { kubeMetadataClient, type MetadataClient, type ObjectMeta, type WatchEvent } from './kube/metadata-client.js';
export {
  tokenReviewClient,
  subjectAccessReviewClient,
  type TokenReviewClient,
  type TokenReviewRequestOptions,
  type SubjectAccessReviewClient,
} from './kube/review-clients.js';

export {
  FileTokenSource,
  StaticTokenSource,
  withServiceAccountToken,
  type TokenSource,
  type FileTokenSourceOptions,
  type TokenHeaderOptions,
} from './client/token-source.js';
