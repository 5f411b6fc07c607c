/**
 * Messages between the benchmark (parent) and the server it forks (`server.ts`). The server runs in its own process so
 * that the load generator and the server under test do not share an event loop.
 */

/** The body every configuration answers with, so that responses are the same size whatever the auth in front. */
export const RESPONSE_BODY = 'Hello from data store. You have been authenticated';

/** The API server the server child talks to, as a ServiceAccount (the data store's own token and the cluster CA). */
export interface ClusterAccess {
  server: string;
  caPem: string;
  /** The data store's ServiceAccount token (bound to system:auth-delegator). */
  token: string;
}

/** What sits in front of the route. */
export type AuthConfig =
  | {
      kind: 'none';
      /**
       * A control in front of the route. express: `sync` calls next() (express's extra layer alone), `async` awaits a
       * resolved promise first (the layer, the promise, and express 5's handling of a returned promise). fastify: `sync`
       * is an `onRequest` hook that calls its callback (fastify's hook machinery alone). gRPC: `sync` is a server
       * interceptor that passes the metadata on (grpc-js's interceptor machinery alone, the shape ours has). All three:
       * `hash` is the `sync` control plus a SHA-256 of the `authorization` header, as the result cache's key costs.
       */
      emptyMiddleware?: 'sync' | 'async' | 'hash';
    }
  | {
      kind: 'local';
      issuer: string;
      /** Overrides the discovered JWKS URI (the memory run points it at a loopback fake key server). */
      jwksUri?: string;
      /** Discovery and JWKS are fetched with this token and CA; absent for the fake key server. */
      access?: ClusterAccess;
      cacheTtlSeconds: number;
      cacheMaxEntries: number;
      jwksCooldownSeconds: number;
      /** Fetch the key set before listening (as a service's readiness would); cold runs leave it to the first request. */
      warm: boolean;
      /**
       * Route is revocation-sensitive, confirmed by a stub TokenReview client that answers from the token's own claims
       * (memory run only: 100,000 locally signed tokens cannot be reviewed by the real API server).
       */
      stubRevocationCheck?: boolean;
      /** Keep the time of each JWKS fetch (random-kid flood). */
      recordFetchTimes?: boolean;
      /**
       * Time each call of the middleware from entry to its `next()` (a repeat caller's whole work, in situ, under load),
       * reported as `middlewareMicros` / `middlewareCalls`. express: a wrapper around the middleware (a closure per
       * request); fastify: an `onRequest` hook before the plugin's and one after it (two more hooks). So a timed
       * configuration is measured beside the untimed one, never instead of it. Not for gRPC.
       */
      timeMiddleware?: boolean;
    }
  | { kind: 'tokenreview'; access: ClusterAccess; cacheTtlSeconds: number; cacheMaxEntries: number }
  | { kind: 'oauth2'; issuer: string; audience: string; jwksUri: string };

export const AUDIENCE = 'data-store';

/** Width (µs) and count of the buckets of {@link ServerStats.middlewareHistogram}. */
export const MIDDLEWARE_BUCKET_MICROS = 0.1;
export const MIDDLEWARE_BUCKETS = 1000;

/** Counters and sizes read in the server process. */
export interface ServerStats {
  /** JWKS (and discovery) fetches made by the verifier. */
  jwksFetches: number;
  /** ms since the server started, of each JWKS fetch (when `recordFetchTimes`). */
  jwksFetchTimes: number[];
  /** TokenReviews sent (to the real API server, or to the stub in the memory run). */
  tokenReviews: number;
  /** `process.hrtime()` in µs: the clock of V8's CPU profile timestamps, to cut a profile to a measured window. */
  hrtimeMicros: number;
  verifiedCacheSize: number | undefined;
  verifiedCacheMaxEntries: number | undefined;
  tokenReviewCacheSize: number | undefined;
  tokenReviewCacheMaxEntries: number | undefined;
  /** Wall time spent in the timed middleware up to its `next()`, µs, and the calls timed (`timeMiddleware`). */
  middlewareMicros: number;
  middlewareCalls: number;
  /**
   * Timed calls by duration, in buckets of {@link MIDDLEWARE_BUCKET_MICROS} (the last one holds everything longer): a
   * median that a preemption in the middle of a few calls does not move, unlike the mean.
   */
  middlewareHistogram: number[];
  /** CPU time of the whole server process (all threads, so WebCrypto's pool work too), user + system, in µs. */
  cpuMicros: number;
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  gcRan: boolean;
  uptimeMs: number;
}

/** What serves the route: express (the default), fastify, or a unary gRPC method. */
export type Transport = 'express' | 'fastify' | 'grpc';

export type ParentMessage =
  { type: 'start'; auth: AuthConfig; transport?: Transport } | { type: 'stats'; id: number; gc: boolean };

export type ChildMessage =
  | { type: 'listening'; port: number }
  | { type: 'failed'; message: string }
  | { type: 'stats'; id: number; stats: ServerStats };
