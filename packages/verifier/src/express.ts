import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { isKubeAuthError, KubeAuthError, type ReasonCode } from './errors.js';
import type { ServiceAccountIdentity } from './identity.js';
import type { Policy, PolicyDecision } from './policy.js';
import { DEFAULT_MAX_TOKEN_BYTES, extractToken, type TokenScheme } from './token.js';
import { tokenHash } from './token-hash.js';
import type { Verifier } from './verifier.js';

/** What the middleware puts on `req.kubeAuth` for an accepted request. */
export interface KubeAuthResult {
  identity: ServiceAccountIdentity;
  decision: Extract<PolicyDecision, { allowed: true }>;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by the kube-service-auth middleware once the caller is authenticated and allowed. */
      kubeAuth?: KubeAuthResult;
    }
  }
}

/** One decision, as the middleware reports it to {@link KubeAuthMiddlewareOptions.onDecision}. Never holds a token. */
export interface AuthDecisionEvent {
  outcome: 'allowed' | 'rejected';
  /** `identity_allowed`/`group_allowed` when allowed, else the reason code. */
  reason: ReasonCode | 'identity_allowed' | 'group_allowed';
  identity?: ServiceAccountIdentity;
  /** sha256 of the token (base64url): correlates requests without revealing the credential. */
  tokenHash?: string;
  method: string;
  path: string;
  durationMs: number;
}

/** Options of {@link kubeAuth}. */
export interface KubeAuthMiddlewareOptions {
  verifier: Verifier;
  policy: Policy;
  /** The header carrying the token. Default `authorization`. */
  header?: string;
  /** `bearer` for `Authorization: Bearer`, `raw` for a bare token. Default: `bearer` for `authorization`, else `raw`. */
  scheme?: TokenScheme;
  /** Confirm every token on this route with TokenReview (see {@link VerifyOptions.revocationSensitive}). */
  revocationSensitive?: boolean;
  /** `realm` of the `WWW-Authenticate` challenge. Default `kube-service-auth`. */
  realm?: string;
  maxTokenBytes?: number;
  /** Called once per request with the outcome, e.g. to log or count. */
  onDecision?: (event: AuthDecisionEvent) => void;
  /**
   * Writes the response for a rejected request instead of the RFC 6750 default. `error.code` is the reason and
   * `error.kind` how it should be answered (`unauthenticated`, `invalid`, `forbidden`, `unavailable`).
   */
  onReject?: (req: Request, res: Response, error: KubeAuthError) => void;
}

/**
 * Express middleware: takes the token from the request, verifies it, applies the policy, and puts the caller on
 * `req.kubeAuth`. Rejections are answered per RFC 6750 by default: 401 with `WWW-Authenticate` for a missing or bad
 * token, 403 for an identity that is not allowed, 503 (with `Retry-After`) when the authority cannot be reached.
 */
export function kubeAuth(options: KubeAuthMiddlewareOptions): RequestHandler {
  const header = (options.header ?? 'authorization').toLowerCase();
  const scheme = options.scheme ?? (header === 'authorization' ? 'bearer' : 'raw');
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const realm = options.realm ?? 'kube-service-auth';
  const respond = options.onReject ?? ((req: Request, res: Response, error: KubeAuthError) => rfc6750(res, error, realm, scheme));

  return async (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    let hash: string | undefined;
    const report = (event: Omit<AuthDecisionEvent, 'method' | 'path' | 'durationMs' | 'tokenHash'>) => {
      options.onDecision?.({ ...event, tokenHash: hash, method: req.method, path: req.path, durationMs: performance.now() - started });
    };
    try {
      // headersDistinct keeps every copy of a repeated header: Node's req.headers silently drops all but the first
      // Authorization, and a request with two credentials must be refused rather than judged on one of them.
      const token = extractToken(req.headersDistinct?.[header] ?? req.headers[header], scheme, maxTokenBytes);
      if (options.onDecision) hash = tokenHash(token);
      const identity = await options.verifier.verify(token, { revocationSensitive: options.revocationSensitive });
      const decision = options.policy.decide(identity);
      if (!decision.allowed) {
        report({ outcome: 'rejected', reason: decision.reason, identity });
        respond(req, res, new KubeAuthError('identity_not_allowed', `${identity.username} is not allowed`));
        return;
      }
      req.kubeAuth = { identity, decision };
      report({ outcome: 'allowed', reason: decision.reason, identity });
    } catch (err) {
      // Anything unexpected is an outage of ours, never a pass: fail closed.
      const error = isKubeAuthError(err)
        ? err
        : new KubeAuthError('tokenreview_unavailable', 'the verifier failed unexpectedly', { cause: err });
      report({ outcome: 'rejected', reason: error.code });
      respond(req, res, error);
      return;
    }
    next();
  };
}

/** The RFC 6750 answer for a rejection. The body names the reason; it never echoes the token. */
export function rfc6750(res: Response, error: KubeAuthError, realm: string, scheme: TokenScheme = 'bearer'): void {
  const challenge = (attributes: string) => {
    if (scheme === 'bearer') res.setHeader('WWW-Authenticate', `Bearer realm="${realm}"${attributes}`);
  };
  switch (error.kind) {
    case 'unauthenticated':
      // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
      challenge('');
      res.status(401).json({ error: 'unauthorized', reason: error.code });
      return;
    case 'invalid':
      challenge(`, error="invalid_token", error_description="${error.code}"`);
      res.status(401).json({ error: 'invalid_token', reason: error.code });
      return;
    case 'forbidden':
      res.status(403).json({ error: 'forbidden', reason: error.code });
      return;
    case 'unavailable':
      res.setHeader('Retry-After', '5');
      res.status(503).json({ error: 'temporarily_unavailable', reason: error.code });
      return;
  }
}
