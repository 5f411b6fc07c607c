import type {
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify';
import fp from 'fastify-plugin';
import { httpAnswer } from './answers.js';
import { decisionEvent, type AuthenticateOptions } from './authenticate.js';
import type { CheckedToken } from '../token/checked-token.js';
import type { KubeAuthError } from '../errors.js';
import { rawHeaderValues } from '../token/raw-headers.js';
import {
  RequestAuthenticator,
  type AuthOutcome,
  type KubeAuthResult,
  type RouteAuthOptions,
} from './request-authenticator.js';

export type { KubeAuthResult } from './request-authenticator.js';
export type { AuthDecisionEvent } from './authenticate.js';

/** What a route may say about authentication in its `config.kubeAuth` (the same as a gRPC method may). */
export type FastifyKubeAuthRouteOptions = RouteAuthOptions;

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated and allowed caller (frozen), set by the kube-service-auth plugin; null on public routes. */
    kubeAuth: KubeAuthResult | null;
  }
  interface FastifyContextConfig {
    /** kube-service-auth for this route: its own options, or `false` for a public route (e.g. `/healthz`). */
    kubeAuth?: FastifyKubeAuthRouteOptions | false;
  }
}

/**
 * Options of the fastify plugin {@link fastifyKubeAuth}: those of every adapter ({@link AuthenticateOptions}), applied
 * to every route (a route's `config.kubeAuth` may set its own `revocationSensitive`, `policy` and `access`), plus the
 * header and the fastify answer of a rejection.
 */
export interface FastifyKubeAuthOptions extends AuthenticateOptions {
  /** The header carrying the token. Default `authorization`. */
  header?: string;
  /**
   * Answers a rejected request instead of the RFC 6750 default (it must send the reply). `error.code` is the reason,
   * `error.kind` how it should be answered.
   */
  onReject?: (request: FastifyRequest, reply: FastifyReply, error: KubeAuthError) => void;
}

/**
 * The fastify plugin (fastify 5): an `onRequest` hook that takes the token from the request, verifies it, applies the
 * policy and puts the caller on `request.kubeAuth`, answering rejections per RFC 6750 exactly as the express
 * middleware does (401 + `WWW-Authenticate`, 403, 503 + `Retry-After`; the body names the reason). It applies to the
 * routes of the context it is registered in (it is not encapsulated); a route opts out with `config: { kubeAuth:
 * false }` or sets its own `revocationSensitive` and `policy` in `config.kubeAuth`. Everything is built once per
 * instance (per route for routes with their own options), and a repeat caller is answered without a promise.
 */
export const fastifyKubeAuth: FastifyPluginCallback<FastifyKubeAuthOptions> = fp(plugin, {
  fastify: '5.x',
  name: '@kube-service-auth/verifier/fastify',
});

export default fastifyKubeAuth;

function plugin(fastify: FastifyInstance, options: FastifyKubeAuthOptions, done: (err?: Error) => void): void {
  const header = (options.header ?? 'authorization').toLowerCase();
  const scheme = options.scheme ?? (header === 'authorization' ? 'bearer' : 'raw');
  const realm = options.realm ?? 'kube-service-auth';
  const onDecision = options.onDecision;
  const respond =
    options.onReject ??
    ((_request: FastifyRequest, reply: FastifyReply, error: KubeAuthError) => {
      const answer = httpAnswer(error, { realm, scheme });
      void reply.code(answer.status).headers(answer.headers).send(answer.body);
    });
  const defaultCore = new RequestAuthenticator({ ...options, scheme });
  // One authenticator per route that has options of its own, keyed by that route's config object (fastify keeps one
  // per route), built when the route is declared (onRoute), so that a route that cannot work fails at start-up.
  const routeCores = new WeakMap<FastifyKubeAuthRouteOptions, RequestAuthenticator>();
  const coreFor = (route: FastifyKubeAuthRouteOptions): RequestAuthenticator => {
    let core = routeCores.get(route);
    if (core === undefined) {
      core = RequestAuthenticator.forRoute({ ...options, scheme }, route);
      routeCores.set(route, core);
    }
    return core;
  };

  // Outside any try of the verification: a throwing hook is the application's error (fastify's error handler answers
  // it), never reported as a rejection or blamed on the verifier.
  const finish = (
    request: FastifyRequest,
    reply: FastifyReply,
    next: HookHandlerDoneFunction,
    outcome: AuthOutcome,
    token: CheckedToken | undefined,
    started: number,
  ) => {
    if (onDecision) onDecision(decisionEvent(outcome, request.method, pathOf(request), token, started));
    if (outcome.allowed) {
      request.kubeAuth = outcome.result;
      next();
      return;
    }
    respond(request, reply, outcome.error);
  };

  fastify.decorateRequest('kubeAuth', null);
  fastify.addHook('onRoute', (route) => {
    const own = route.config?.kubeAuth;
    if (own) coreFor(own);
  });
  fastify.addHook('onRequest', function kubeAuthHook(request, reply, next) {
    const route = request.routeOptions.config.kubeAuth;
    if (route === false) {
      next();
      return;
    }
    const started = onDecision ? performance.now() : 0;
    const core = route === undefined ? defaultCore : coreFor(route);
    core.handle(
      rawHeaderValues(request.raw.rawHeaders, header),
      (outcome, token) => finish(request, reply, next, outcome, token, started),
      (err) => next(err as Error),
    );
  });
  done();
}

/** The path without the query string, as express's `req.path` reports it. */
function pathOf(request: FastifyRequest): string {
  const url = request.url;
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
