// The public API of the root entry: what the README documents, and the types of those signatures. Everything else is
// internal and may change; the framework adapters are the ./express, ./fastify and ./grpc entries.
export { REASONS, KubeAuthError, isKubeAuthError, type ReasonCode, type ReasonKind } from './errors.js';
export type { Clock } from './clock.js';
export { tokenHash } from './token-hash.js';
export { CheckedToken } from './checked-token.js';
export {
  RequestAuthenticator,
  type RequestAuthenticatorOptions,
  type AuthOutcome,
  type KubeAuthResult,
} from './request-authenticator.js';
export {
  createAuthenticate,
  type AuthenticateOptions,
  type CommonAuthOptions,
  type PlainRequest,
  type Authentication,
  type Acceptance,
  type Rejection,
  type AuthDecisionEvent,
} from './authenticate.js';
export type { HttpAnswer, GrpcAnswer } from './answers.js';
export type { TokenScheme } from './token.js';
export type { VerifierEvent, EventListener } from './events.js';
export { createKubeFetch, type FetchLike, type KubeFetchOptions } from './http.js';
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
} from './identity.js';
export { LocalVerifier, type LocalVerifierOptions, type IssuerConfig, type JwksTuning } from './local-verifier.js';
export {
  TokenReviewVerifier,
  tokenReviewClient,
  type TokenReviewClient,
  type TokenReviewRequestOptions,
  type TokenReviewVerifierOptions,
} from './token-review.js';
export {
  ServiceAccountVerifier,
  type Verifier,
  type VerifyOptions,
  type VerificationMode,
  type ServiceAccountVerifierOptions,
} from './verifier.js';
export { Policy, type PolicyOptions, type PolicyDecision } from './policy.js';
export {
  FileTokenSource,
  StaticTokenSource,
  TokenSourceError,
  withServiceAccountToken,
  type TokenSource,
  type FileTokenSourceOptions,
  type TokenSourceErrorCode,
  type TokenHeaderOptions,
} from './token-source.js';
export {
  loadConfig,
  createKubeAuth,
  kubeAuthFromEnv,
  ConfigError,
  type KubeAuthConfig,
  type KubeAuthDependencies,
  type KubeAuth,
  type KubeAuthAdapterOptions,
} from './config.js';
export {
  BoundObjectWatch,
  type BoundObjectWatchOptions,
  type ObjectLookup,
  type WatchedResource,
  type WatchStatusEvent,
} from './bound-object-watch.js';
export { kubeMetadataClient, type MetadataClient, type ObjectMeta, type WatchEvent } from './metadata-client.js';
export {
  RevocationChecker,
  judgeBoundObject,
  tokenBinding,
  DELETION_LEEWAY_MS,
  type RevocationCheckerOptions,
  type RevocationVerdict,
  type TokenBinding,
} from './revocation.js';
export {
  SubjectAccessReviewer,
  subjectAccessReviewClient,
  validateAccessAttributes,
  type AccessAttributes,
  type SubjectAccessReviewClient,
  type SubjectAccessReviewerOptions,
} from './subject-access-review.js';
export { WatchRevocationVerifier, type WatchRevocationVerifierOptions } from './watch-verifier.js';
export { admittedNamespaces } from './admitted-namespaces.js';
