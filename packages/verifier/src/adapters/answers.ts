import type { KubeAuthError, ReasonCode, ReasonKind } from '../errors.js';
import type { TokenScheme } from '../token/extract.js';

/** The HTTP answer to a rejection (RFC 6750): what every HTTP adapter sends unless told otherwise. */
export interface HttpAnswer {
  status: 401 | 403 | 500 | 503;
  /** `WWW-Authenticate` for 401 in the bearer scheme, `Retry-After` for 503. */
  headers: Record<string, string>;
  /** The JSON body: the RFC 6750 error and the reason code. Never the token. */
  body: {
    error: 'unauthorized' | 'invalid_token' | 'forbidden' | 'temporarily_unavailable' | 'server_error';
    reason: ReasonCode;
  };
}

/** gRPC status codes, by number (as `@grpc/grpc-js`'s `status` enum has them), so that the core needs no gRPC import. */
export const GRPC_STATUS = { PERMISSION_DENIED: 7, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/** The gRPC answer to a rejection: the status code and its name, with the reason code as `details`. */
export interface GrpcAnswer {
  code: (typeof GRPC_STATUS)[keyof typeof GRPC_STATUS];
  name: keyof typeof GRPC_STATUS;
  details: ReasonCode;
}

/** Options of {@link httpAnswer}. */
export interface HttpAnswerOptions {
  /** `realm` of the `WWW-Authenticate` challenge. Default `kube-service-auth`. */
  realm?: string;
  /** No challenge is sent for a token carried `raw` in a custom header (there is no scheme to challenge with). */
  scheme?: TokenScheme;
}

/**
 * The RFC 6750 answer for a rejection: 401 with a challenge for a missing token (§3.1: no error code) or a bad one
 * (`invalid_token`), 403 for an identity the policy refuses, 503 with `Retry-After` when the verifier cannot decide.
 */
export function httpAnswer(error: KubeAuthError, options: HttpAnswerOptions = {}): HttpAnswer {
  const realm = options.realm ?? 'kube-service-auth';
  const bearer = (options.scheme ?? 'bearer') === 'bearer';
  const reason = error.code;
  switch (error.kind) {
    case 'unauthenticated':
      return {
        status: 401,
        headers: bearer ? { 'WWW-Authenticate': `Bearer realm="${realm}"` } : {},
        body: { error: 'unauthorized', reason },
      };
    case 'invalid':
      return {
        status: 401,
        headers: bearer
          ? { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_token", error_description="${reason}"` }
          : {},
        body: { error: 'invalid_token', reason },
      };
    case 'forbidden':
      return { status: 403, headers: {}, body: { error: 'forbidden', reason } };
    case 'unavailable':
      return { status: 503, headers: { 'Retry-After': '5' }, body: { error: 'temporarily_unavailable', reason } };
    case 'misconfigured':
      // Permanent until an operator acts: no Retry-After, so clients do not hammer a service that cannot recover.
      return { status: 500, headers: {}, body: { error: 'server_error', reason } };
  }
}

const GRPC_BY_KIND: Record<ReasonKind, GrpcAnswer['name']> = {
  unauthenticated: 'UNAUTHENTICATED',
  invalid: 'UNAUTHENTICATED',
  forbidden: 'PERMISSION_DENIED',
  unavailable: 'UNAVAILABLE',
  // Not retryable: the service cannot decide until its configuration (or the issuer's) is fixed.
  misconfigured: 'INTERNAL',
};

/** The gRPC answer for a rejection: `UNAUTHENTICATED`, `PERMISSION_DENIED`, `UNAVAILABLE` (retryable) or `INTERNAL`. */
export function grpcAnswer(error: KubeAuthError): GrpcAnswer {
  const name = GRPC_BY_KIND[error.kind];
  return { code: GRPC_STATUS[name], name, details: error.code };
}
