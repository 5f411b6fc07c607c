export { REASONS, KubeAuthError, isKubeAuthError, type ReasonCode, type ReasonKind } from './errors.js';
export { systemClock, type Clock } from './clock.js';
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
  rejection,
  type AuthenticateOptions,
  type PlainRequest,
  type Authentication,
  type Acceptance,
  type Rejection,
  type AuthDecisionEvent,
} from './authenticate.js';
export { httpAnswer, grpcAnswer, GRPC_STATUS, type HttpAnswer, type HttpAnswerOptions, type GrpcAnswer } from './answers.js';
export { extractToken, assertCompactJws, DEFAULT_MAX_TOKEN_BYTES, type TokenScheme } from './token.js';
export { DEFAULT_ALGORITHMS } from './algorithms.js';
export type { VerifierEvent, EventListener } from './events.js';
export { createKubeFetch, type FetchLike, type KubeFetchOptions } from './http.js';
export { fetchDiscoveryDocument, type DiscoveryDocument } from './discovery.js';
export { JwksCache, HeldKey, type JwksCacheOptions, type VerificationKey } from './jwks-cache.js';
export {
  parseServiceAccountUsername,
  serviceAccountGroups,
  acceptedAudiences,
  cacheUntil,
  checkBinding,
  identityFromClaims,
  identityFromReview,
  identityToUserInfo,
  sameCaller,
  EXTRA_PREFIX,
  type BindingRequirements,
  type BoundObject,
  type ReviewContext,
  type ReviewedUser,
  type ServiceAccountIdentity,
} from './identity.js';
export { parseServiceAccountClaims, type ClaimRequirements } from './claims.js';
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
