import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { CheckedToken } from '../token/checked-token.js';
import { httpAnswer } from './answers.js';
import { decisionEvent, type AuthenticateOptions } from './authenticate.js';
import { KubeAuthService } from '../config/kube-auth.js';
import type { KubeAuthError } from '../errors.js';
import { RequestAuthenticator, type AuthOutcome, type KubeAuthResult } from './request-authenticator.js';
import { rawHeaderValues } from '../token/raw-headers.js';
import type { TokenScheme } from '../token/extract.js';

export type { KubeAuthResult } from './request-authenticator.js';
export type { AuthDecisionEvent } from './authenticate.js';

declare module '../config/kube-auth.js' {
  interface KubeAuth {
    /**
     * The express middleware for one route, with the configured options (`adapterOptions()`, the header); `options`
     * override them (e.g. `revocationSensitive: true`). Present once `@kube-service-auth/verifier/express` is imported.
     * A route that cannot work throws a `ConfigError` here, at start-up, as the other adapters do.
     */
    middleware(options?: Partial<KubeAuthMiddlewareOptions>): RequestHandler;
  }
}

// The root entry knows no framework: importing this entry is what gives a configured KubeAuth its middleware().
Object.defineProperty(KubeAuthService.prototype, 'middleware', {
  configurable: true,
  writable: true,
  value: function middleware(this: KubeAuthService, options: Partial<KubeAuthMiddlewareOptions> = {}): RequestHandler {
    return kubeAuth({ ...this.adapterOptions(), header: this.config.header, ...options });
  },
});

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by the kube-service-auth middleware once the caller is authenticated and allowed. Frozen. */
      kubeAuth?: KubeAuthResult;
    }
  }
}

/**
 * Options of {@link kubeAuth}: those of every adapter ({@link AuthenticateOptions}: verifier, policy,
 * `revocationSensitive`, SubjectAccessReview `access` and `accessReviewer`, scheme, realm, `maxTokenBytes`,
 * `onDecision`), plus the header and the express answer of a rejection.
 */
export interface KubeAuthMiddlewareOptions extends AuthenticateOptions {
  /** The header carrying the token. Default `authorization`. */
  header?: string;
  /**
   * Writes the response for a rejected request instead of the RFC 6750 default. `error.code` is the reason and
   * `error.kind` how it should be answered (`unauthenticated`, `invalid`, `forbidden`, `unavailable`, `misconfigured`).
   */
  onReject?: (req: Request, res: Response, error: KubeAuthError) => void;
}

/**
 * Express middleware: takes the token from the request, verifies it, applies the policy, and puts the caller on
 * `req.kubeAuth`. Rejections are answered per RFC 6750 by default: 401 with `WWW-Authenticate` for a missing or bad
 * token, 403 for an identity that is not allowed, 503 (with `Retry-After`) when the authority cannot be reached or the
 * verifier fails (`internal_error`). A repeat caller is answered synchronously: `next()` is called without a promise.
 */
export function kubeAuth(options: KubeAuthMiddlewareOptions): RequestHandler {
  const header = (options.header ?? 'authorization').toLowerCase();
  const scheme = options.scheme ?? (header === 'authorization' ? 'bearer' : 'raw');
  const realm = options.realm ?? 'kube-service-auth';
  const respond =
    options.onReject ?? ((req: Request, res: Response, error: KubeAuthError) => rfc6750(res, error, realm, scheme));
  const onDecision = options.onDecision;
  const core = new RequestAuthenticator({ ...options, scheme });

  // Runs outside any try of the verification: a throwing hook is the application's error (express answers it with
  // its error handler), never reported as a rejection or blamed on the verifier.
  const finish = (
    req: Request,
    res: Response,
    next: NextFunction,
    outcome: AuthOutcome,
    token: CheckedToken | undefined,
    started: number,
  ) => {
    if (outcome.allowed) {
      setKubeAuth(req, outcome.result);
      if (onDecision) onDecision(decisionEvent(outcome, req.method, req.path, token, started));
      next();
      return;
    }
    if (onDecision) onDecision(decisionEvent(outcome, req.method, req.path, token, started));
    respond(req, res, outcome.error);
  };

  return function kubeAuthMiddleware(req: Request, res: Response, next: NextFunction): void {
    const started = onDecision ? performance.now() : 0;
    // A hook or onReject that throws later goes to express's error handler, as it would from an async middleware.
    core.handle(headerValue(req, header), (outcome, token) => finish(req, res, next, outcome, token, started), next);
  };
}

// Where `req.kubeAuth` lives. express replaces each request's prototype (Object.setPrototypeOf), after which V8 builds
// a fresh hidden class for every property added to the request: measured here, adding `kubeAuth` cost ~2 µs per
// request, more than everything else the middleware does on a repeat caller. So express's request prototype gets an
// accessor, once, and the result is kept in `res.locals` (a dictionary object express creates per request, ~30 ns to
// add to), under a symbol. A request that is not express's (no app prototype, no locals) gets a plain property.
const RESULT = Symbol('kube-service-auth result');
const withAccessor = new WeakSet<object>();

function setKubeAuth(req: Request, result: KubeAuthResult): void {
  const locals = (req.res as { locals?: Record<symbol, unknown> } | undefined)?.locals;
  const base = locals === undefined ? undefined : expressRequestPrototype(req);
  // An own property (assigned by other code) would hide the accessor: overwrite it instead, as a plain assignment did.
  if (base === undefined || Object.hasOwn(req, 'kubeAuth')) {
    req.kubeAuth = result;
    return;
  }
  if (!withAccessor.has(base)) installAccessor(base);
  (locals as Record<symbol, unknown>)[RESULT] = result;
}

/**
 * express's own request prototype, under the `app.request` prototypes of the app and its mounted apps (each has an
 * own `app`): installed there, the accessor serves every app of this express, mounted or not. Undefined when `req`
 * does not come through an express app.
 */
function expressRequestPrototype(req: Request): object | undefined {
  let proto = Object.getPrototypeOf(req) as object | null;
  if (proto === null || !Object.hasOwn(proto, 'app')) return undefined;
  while (proto !== null && Object.hasOwn(proto, 'app')) proto = Object.getPrototypeOf(proto) as object | null;
  return proto ?? undefined;
}

function installAccessor(base: object): void {
  Object.defineProperty(base, 'kubeAuth', {
    configurable: true,
    enumerable: false,
    get(this: Request): KubeAuthResult | undefined {
      return (this.res as { locals?: Record<symbol, KubeAuthResult | undefined> } | undefined)?.locals?.[RESULT];
    },
    // Code that assigns req.kubeAuth itself (a test, another middleware) gets an own property, as before.
    set(this: Request, value: KubeAuthResult | undefined) {
      Object.defineProperty(this, 'kubeAuth', { value, writable: true, enumerable: true, configurable: true });
    },
  });
  withAccessor.add(base);
}

/** Every value of the header: two credentials are refused rather than judged on one of them (see rawHeaderValues). */
function headerValue(req: Request, name: string): string | string[] | undefined {
  const raw = req.rawHeaders as string[] | undefined;
  if (!Array.isArray(raw)) return req.headersDistinct?.[name] ?? req.headers[name];
  return rawHeaderValues(raw, name);
}

/** The RFC 6750 answer for a rejection. The body names the reason; it never echoes the token. */
export function rfc6750(res: Response, error: KubeAuthError, realm: string, scheme: TokenScheme = 'bearer'): void {
  const answer = httpAnswer(error, { realm, scheme });
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.status(answer.status).json(answer.body);
}
