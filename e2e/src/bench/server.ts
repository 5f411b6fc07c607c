/**
 * The server under test, forked by the benchmark: an express app on 127.0.0.1 with one route, behind the auth the
 * parent asks for. It counts API-server work (JWKS fetches, TokenReviews) and reports memory over IPC. It never logs
 * a token. It exits when the parent goes away.
 */
import { createServer, type Server } from 'node:http';
import { KubeConfig, type V1TokenReview } from '@kubernetes/client-node';
import {
  createKubeFetch,
  identityFromClaims,
  identityToUserInfo,
  LocalVerifier,
  Policy,
  ServiceAccountVerifier,
  StaticTokenSource,
  TokenReviewVerifier,
  type TokenReviewClient,
} from '@kube-service-auth/verifier';
import { kubeAuth } from '@kube-service-auth/verifier/express';
import { fastifyKubeAuth } from '@kube-service-auth/verifier/fastify';
import { kubeAuthInterceptor } from '@kube-service-auth/verifier/grpc';
import Fastify from 'fastify';
import { startEchoServer } from '../cases/grpc-echo.js';
import { hashHeader, passThroughInterceptor } from './controls.js';
import { payloadOf } from '../support/jwt.js';
import express, { type ErrorRequestHandler, type NextFunction, type RequestHandler } from 'express';
import { auth as oauth2Auth } from 'express-oauth2-jwt-bearer';
import {
  AUDIENCE,
  MIDDLEWARE_BUCKET_MICROS,
  MIDDLEWARE_BUCKETS,
  RESPONSE_BODY,
  type AuthConfig,
  type ChildMessage,
  type ClusterAccess,
  type ParentMessage,
  type ServerStats,
  type Transport,
} from './protocol.js';

const send = (message: ChildMessage) => process.send?.(message);

const started = performance.now();
let local: LocalVerifier | undefined;
let tokenReview: TokenReviewVerifier | undefined;
let stubReviews = 0;
const jwksFetchTimes: number[] = [];

function kubeConfig(access: ClusterAccess): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'bench',
        server: access.server,
        caData: Buffer.from(access.caPem).toString('base64'),
        skipTLSVerify: false,
      },
    ],
    users: [{ name: 'data-store', token: access.token }],
    contexts: [{ name: 'bench', cluster: 'bench', user: 'data-store' }],
    currentContext: 'bench',
  });
  return kc;
}

/**
 * Answers a TokenReview from the token's own (already locally verified) claims, as the API server would for a live
 * pod. Used only by the memory run, whose 100,000 tokens are signed by a key the real API server does not know.
 */
const stubTokenReviewClient: TokenReviewClient = {
  async createTokenReview(review: V1TokenReview): Promise<V1TokenReview> {
    stubReviews++;
    const token = review.spec.token ?? '';
    const claims = payloadOf(token);
    return {
      spec: review.spec,
      status: {
        authenticated: true,
        audiences: review.spec.audiences,
        user: identityToUserInfo(identityFromClaims(claims, review.spec.audiences ?? [])),
      },
    };
  },
};

const policy = new Policy({ allow: ['system:serviceaccount:api:*'] });

/** The verifier of a local or TokenReview configuration, for whichever adapter serves it. */
async function verifierFor(
  config: Extract<AuthConfig, { kind: 'local' | 'tokenreview' }>,
): Promise<{ verifier: ServiceAccountVerifier; revocationSensitive: boolean }> {
  switch (config.kind) {
    case 'local': {
      local = new LocalVerifier({
        issuers: [{ issuer: config.issuer, jwksUri: config.jwksUri }],
        audience: AUDIENCE,
        fetch: createKubeFetch(
          config.access ? { caPem: config.access.caPem, tokenSource: new StaticTokenSource(config.access.token) } : {},
        ),
        requirePodBinding: true,
        cacheTtlSeconds: config.cacheTtlSeconds,
        cacheMaxEntries: config.cacheMaxEntries,
        jwks: { cooldown: config.jwksCooldownSeconds },
        // Events are only listened to where their timing matters; otherwise the getters are read (no per-request cost).
        onEvent: config.recordFetchTimes
          ? (event) => {
              if (event.type === 'jwks_fetch') jwksFetchTimes.push(performance.now() - started);
            }
          : undefined,
      });
      if (config.warm) await local.warm();
      if (config.stubRevocationCheck) {
        tokenReview = new TokenReviewVerifier({
          client: stubTokenReviewClient,
          audience: AUDIENCE,
          requirePodBinding: true,
          cacheTtlSeconds: config.cacheTtlSeconds,
          cacheMaxEntries: config.cacheMaxEntries,
        });
      }
      return {
        verifier: new ServiceAccountVerifier({ mode: 'local', local, tokenReview }),
        revocationSensitive: config.stubRevocationCheck === true,
      };
    }
    case 'tokenreview': {
      tokenReview = new TokenReviewVerifier({
        client: kubeConfig(config.access),
        audience: AUDIENCE,
        requirePodBinding: true,
        cacheTtlSeconds: config.cacheTtlSeconds,
        cacheMaxEntries: config.cacheMaxEntries,
      });
      return { verifier: new ServiceAccountVerifier({ mode: 'tokenreview', tokenReview }), revocationSensitive: false };
    }
  }
}

async function authMiddleware(config: AuthConfig): Promise<RequestHandler | undefined> {
  switch (config.kind) {
    case 'none':
      if (config.emptyMiddleware === 'sync') return (_req, _res, next) => next();
      if (config.emptyMiddleware === 'hash')
        return (req, _res, next) => {
          hashHeader(req.headers.authorization);
          next();
        };
      if (config.emptyMiddleware !== 'async') return undefined;
      return async (_req, _res, next) => {
        await Promise.resolve();
        next();
      };
    case 'local':
    case 'tokenreview': {
      const middleware = kubeAuth({ policy, ...(await verifierFor(config)) });
      if (config.kind !== 'local' || !config.timeMiddleware) return middleware;
      return (req, res, next) => {
        const t0 = performance.now();
        middleware(req, res, ((err?: unknown) => {
          recordMiddleware((performance.now() - t0) * 1000);
          next(err);
        }) as NextFunction);
      };
    }
    case 'oauth2':
      // It cannot send a bearer token to fetch the key set, so jwksUri is a loopback copy of the API server's JWKS.
      return oauth2Auth({
        issuer: config.issuer,
        audience: config.audience,
        jwksUri: config.jwksUri,
        tokenSigningAlg: 'RS256',
      });
  }
}

let maxEntries: number | undefined;
let middlewareMicros = 0;
let middlewareCalls = 0;
const middlewareHistogram = new Array<number>(MIDDLEWARE_BUCKETS).fill(0);

function recordMiddleware(micros: number): void {
  middlewareMicros += micros;
  middlewareCalls++;
  (middlewareHistogram[Math.min(MIDDLEWARE_BUCKETS - 1, Math.floor(micros / MIDDLEWARE_BUCKET_MICROS))] as number)++;
}

function stats(gc: boolean): ServerStats {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (gc && collect) {
    collect();
    collect();
  }
  const m = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    jwksFetches: local ? [...local.jwks.values()].reduce((sum, k) => sum + k.fetches, 0) : 0,
    jwksFetchTimes: [...jwksFetchTimes],
    tokenReviews: tokenReview ? tokenReview.reviews : stubReviews,
    hrtimeMicros: Number(process.hrtime.bigint() / 1000n),
    verifiedCacheSize: local?.cacheSize,
    verifiedCacheMaxEntries: local ? maxEntries : undefined,
    tokenReviewCacheSize: tokenReview?.cacheSize,
    tokenReviewCacheMaxEntries: tokenReview ? maxEntries : undefined,
    cpuMicros: cpu.user + cpu.system,
    middlewareMicros,
    middlewareCalls,
    middlewareHistogram: [...middlewareHistogram],
    memory: {
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    },
    gcRan: gc && collect !== undefined,
    uptimeMs: performance.now() - started,
  };
}

/** The same route on fastify 5, with the fastify plugin in front (or nothing, for the unprotected baseline). */
async function startFastify(config: AuthConfig): Promise<number> {
  const app = Fastify({ keepAliveTimeout: 30_000 });
  if (config.kind === 'local' || config.kind === 'tokenreview') {
    // Timed: hooks run in the order they were added, so one before the plugin's and one after it bracket its hook.
    const timed = config.kind === 'local' && config.timeMiddleware === true;
    let entered = 0;
    if (timed)
      app.addHook('onRequest', (_request, _reply, next) => {
        entered = performance.now();
        next();
      });
    await app.register(fastifyKubeAuth, { policy, ...(await verifierFor(config)) });
    if (timed)
      app.addHook('onRequest', (_request, _reply, next) => {
        recordMiddleware((performance.now() - entered) * 1000);
        next();
      });
  } else if (config.kind === 'none' && config.emptyMiddleware === 'sync') {
    app.addHook('onRequest', (_request, _reply, next) => next());
  } else if (config.kind === 'none' && config.emptyMiddleware === 'hash') {
    app.addHook('onRequest', (request, _reply, next) => {
      hashHeader(request.headers.authorization);
      next();
    });
  } else if (config.kind !== 'none' || config.emptyMiddleware !== undefined) {
    throw new Error(`no fastify server for ${config.kind}`);
  }
  app.get('/data', (_request, reply) => {
    void reply.type('text/plain').send(RESPONSE_BODY);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** A unary gRPC service, with the server interceptor in front (or none). */
async function startGrpc(config: AuthConfig): Promise<number> {
  const interceptors =
    config.kind === 'local' || config.kind === 'tokenreview'
      ? [kubeAuthInterceptor({ policy, ...(await verifierFor(config)) })]
      : config.kind === 'none' && config.emptyMiddleware === undefined
        ? []
        : config.kind === 'none' && config.emptyMiddleware !== 'async'
          ? [passThroughInterceptor(config.emptyMiddleware === 'hash')]
          : undefined;
  if (!interceptors) throw new Error(`no gRPC server for ${config.kind}`);
  const server = await startEchoServer(interceptors);
  return Number(server.address.split(':')[1]);
}

async function startTransport(config: AuthConfig, transport: Transport): Promise<number> {
  if (config.kind === 'local' || config.kind === 'tokenreview') maxEntries = config.cacheMaxEntries;
  if (transport === 'fastify') return startFastify(config);
  if (transport === 'grpc') return startGrpc(config);
  const server = await start(config);
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

async function start(config: AuthConfig): Promise<Server> {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const handler: RequestHandler = (_req, res) => {
    res.type('text/plain').send(RESPONSE_BODY);
  };
  const middleware = await authMiddleware(config);
  if (middleware) app.get('/data', middleware, handler);
  else app.get('/data', handler);
  // express-oauth2-jwt-bearer signals rejections by passing an error with a status; answer it without a stack page.
  const onError: ErrorRequestHandler = (err: { status?: number }, _req, res, _next) => {
    res.status(typeof err.status === 'number' ? err.status : 500).json({ error: 'rejected' });
  };
  app.use(onError);
  const server = createServer(app);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return server;
}

process.on('disconnect', () => process.exit(0));
process.on('message', (message: ParentMessage) => {
  if (message.type === 'start') {
    startTransport(message.auth, message.transport ?? 'express').then(
      (port) => send({ type: 'listening', port }),
      (error: unknown) => {
        // The parent kills this process once it has read the reason.
        send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
      },
    );
  } else if (message.type === 'stats') {
    send({ type: 'stats', id: message.id, stats: stats(message.gc) });
  }
});
