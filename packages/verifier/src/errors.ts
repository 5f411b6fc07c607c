/**
 * Every error class of the package, in one place. Request errors are {@link KubeAuthError}s with a stable reason code
 * shared by logs, metrics and HTTP/gRPC answers; the others are start-up or caller-side errors with codes of their own.
 */

/**
 * Every way a request can fail authentication or authorization, as a stable reason code. The same word appears in
 * errors (`err.code`), logs, metrics labels and HTTP responses, so one word explains a rejection everywhere.
 */
export const REASONS = {
  token_missing: { kind: 'unauthenticated', description: 'no token was supplied' },
  token_malformed: { kind: 'invalid', description: 'the token is not a well-formed compact JWS' },
  token_too_large: { kind: 'invalid', description: 'the token or its header is larger than the configured limit' },
  signature_invalid: { kind: 'invalid', description: 'the signature does not verify with the key named by kid' },
  algorithm_not_allowed: { kind: 'invalid', description: 'the alg header is not in the allow-list' },
  issuer_mismatch: { kind: 'invalid', description: 'iss is not a configured issuer' },
  audience_mismatch: { kind: 'invalid', description: 'the token is not meant for this audience' },
  token_expired: { kind: 'invalid', description: 'exp is in the past (beyond the leeway)' },
  token_not_yet_valid: { kind: 'invalid', description: 'nbf or iat is in the future (beyond the leeway)' },
  claim_invalid: { kind: 'invalid', description: 'a required claim is missing or inconsistent' },
  key_not_found: { kind: 'invalid', description: 'no key with this kid exists in the key set, even after a refetch' },
  key_unusable: {
    kind: 'misconfigured',
    description: 'the key set holds a key for this kid that cannot be imported (malformed or unsupported JWK)',
  },
  jwks_unavailable: { kind: 'unavailable', description: 'the key set cannot be fetched and no usable copy is cached' },
  issuer_misconfigured: {
    kind: 'misconfigured',
    description: 'the issuer cannot be used as configured (e.g. its discovered jwks_uri is on another origin)',
  },
  tokenreview_rejected: { kind: 'invalid', description: 'the API server says the token is not authenticated' },
  tokenreview_unavailable: { kind: 'unavailable', description: 'the API server cannot be reached or failed' },
  tokenreview_overloaded: {
    kind: 'unavailable',
    description: 'too many TokenReviews are in flight (tokenReviewMaxInflight); retry shortly',
  },
  tokenreview_forbidden: {
    kind: 'unavailable',
    description: 'this service may not create TokenReviews (bind it to system:auth-delegator)',
  },
  identity_not_allowed: {
    kind: 'forbidden',
    description: 'authenticated, but the policy does not allow this identity',
  },
  internal_error: {
    kind: 'unavailable',
    description: 'the verifier failed unexpectedly (a bug or an internal fault), never a pass',
  },
  token_revoked: {
    kind: 'invalid',
    description: 'the pod or ServiceAccount the token is bound to is gone, deleted or recreated (seen by the watch)',
  },
  revocation_unavailable: {
    kind: 'unavailable',
    description:
      'the watch of pods and ServiceAccounts is stale or not synced, and no TokenReview fallback is configured',
  },
  subjectaccessreview_denied: {
    kind: 'forbidden',
    description: "the cluster's RBAC does not allow this caller this action",
  },
  subjectaccessreview_unavailable: {
    kind: 'unavailable',
    description: 'a SubjectAccessReview cannot be asked (API server unreachable, or no system:auth-delegator binding)',
  },
  route_misconfigured: {
    kind: 'misconfigured',
    description:
      "this route's options cannot work (e.g. revocation-sensitive without TokenReview); refused until the service is fixed",
  },
} as const satisfies Record<string, { kind: ReasonKind; description: string }>;

/**
 * How a reason is answered: `unauthenticated` (no credentials, 401), `invalid` (bad credentials, 401),
 * `forbidden` (good credentials, not allowed, 403), `unavailable` (we cannot decide right now, 503 with
 * `Retry-After`), `misconfigured` (we cannot decide until an operator fixes the configuration or the issuer: 500, no
 * retry hint). An outage is never reported as an invalid token, and never lets a request through.
 */
export type ReasonKind = 'unauthenticated' | 'invalid' | 'forbidden' | 'unavailable' | 'misconfigured';

/** A stable reason code: see {@link REASONS}. */
export type ReasonCode = keyof typeof REASONS;

/** The base error of this package. `code` is a stable reason; assert on it, not on the message. */
export class KubeAuthError extends Error {
  override readonly name: string = 'KubeAuthError';
  readonly code: ReasonCode;
  /** The claim at fault, for claim errors (`aud`, `exp`, `kubernetes.io`…). */
  readonly claim: string | undefined;

  constructor(code: ReasonCode, message?: string, options?: { cause?: unknown; claim?: string }) {
    super(message ?? REASONS[code].description, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.claim = options?.claim;
  }

  /** How this error should be answered. */
  get kind(): ReasonKind {
    return REASONS[this.code].kind;
  }
}

/** True when `err` is a {@link KubeAuthError}, optionally with one of the given codes. */
export function isKubeAuthError(err: unknown, ...codes: ReasonCode[]): err is KubeAuthError {
  return err instanceof KubeAuthError && (codes.length === 0 || codes.includes(err.code));
}

/** A configuration error: names the variable so that a deployment fails at start-up with a useful message. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** Why a {@link FileTokenSource} could not give a token. */
export type TokenSourceErrorCode =
  'token_file_missing' | 'token_file_empty' | 'token_file_expired' | 'token_file_unreadable';

/** A caller-side failure to read its own token. */
export class TokenSourceError extends Error {
  override readonly name = 'TokenSourceError';
  constructor(
    readonly code: TokenSourceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown when a kubeconfig cannot be loaded: which variable to fix, and why (config wraps it in a {@link ConfigError}). */
export class KubeConfigLoadError extends Error {
  override readonly name = 'KubeConfigLoadError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
  }
}

/** An HTTP failure of the API server's metadata API, with its status (`0` when the server could not be reached). */
export class MetadataRequestError extends Error {
  override readonly name = 'MetadataRequestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
