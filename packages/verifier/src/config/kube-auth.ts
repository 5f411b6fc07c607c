import type { KubeConfig } from '@kubernetes/client-node';
import { LocalVerifier } from '../authn/local-verifier.js';
import { ServiceAccountVerifier } from '../authn/service-account-verifier.js';
import { TokenReviewVerifier } from '../authn/token-review.js';
import type { Verifier } from '../authn/verifier.js';
import { Policy } from '../authz/policy.js';
import { SubjectAccessReviewer, type AccessAttributes } from '../authz/subject-access-review.js';
import { FileTokenSource } from '../client/token-source.js';
import type { Clock } from '../clock.js';
import { ConfigError, KubeConfigLoadError } from '../errors.js';
import type { EventListener } from '../events.js';
import { loadKubeConfig } from '../kube/client-node.js';
import { createKubeFetch, type FetchLike } from '../kube/http.js';
import type { MetadataClient } from '../kube/metadata-client.js';
import type { SubjectAccessReviewClient, TokenReviewClient } from '../kube/review-clients.js';
import { BoundObjectWatch } from '../revocation/bound-object-watch.js';
import { RevocationChecker } from '../revocation/revocation-checker.js';
import { WatchRevocationVerifier } from '../revocation/watch-verifier.js';
import { loadConfig, type Env, type KubeAuthConfig } from './env.js';

/** What {@link createKubeAuth} can be given instead of its defaults (tests inject the network and the clock). */
export interface KubeAuthDependencies {
  fetch?: FetchLike;
  kubeConfig?: KubeConfig;
  tokenReviewClient?: TokenReviewClient;
  subjectAccessReviewClient?: SubjectAccessReviewClient;
  /** Where the revocation watch lists and watches (default: the kubeconfig's cluster). */
  metadataClient?: MetadataClient;
  clock?: Clock;
  onEvent?: EventListener;
}

/** What {@link KubeAuth.adapterOptions} gives: the options every adapter (express, fastify, gRPC, `createAuthenticate`) shares. */
export interface KubeAuthAdapterOptions {
  verifier: Verifier;
  policy: Policy;
  maxTokenBytes: number;
  access?: AccessAttributes;
  /**
   * The reviewer when an API server is configured; otherwise a function that throws the `ConfigError` a route with
   * its own `access` attributes gets where it is declared.
   */
  accessReviewer: SubjectAccessReviewer | (() => SubjectAccessReviewer);
}

/**
 * A configured verifier and policy. With `@kube-service-auth/verifier/express` imported, it also has
 * `middleware(options?)`: the express middleware for one route (declared and installed by that entry, so that the
 * root entry carries no express types and imports no adapter).
 */
export interface KubeAuth {
  config: KubeAuthConfig;
  verifier: ServiceAccountVerifier;
  policy: Policy;
  /** With `K8S_AUTH_REVOCATION=watch`: the watch of pods and ServiceAccounts and the verifier the routes use. */
  revocation: { watch: BoundObjectWatch; verifier: WatchRevocationVerifier } | undefined;
  /**
   * Asks the cluster's RBAC (SubjectAccessReview): about every route with `K8S_AUTH_SAR_VERB`, and about the routes
   * that state their own `access`. Built on first use; undefined when no API server is configured.
   */
  readonly accessReviewer: SubjectAccessReviewer | undefined;
  /**
   * The configured options of every adapter: the route verifier (the revocation watch's with
   * `K8S_AUTH_REVOCATION=watch`), the policy, the token size bound, the environment's SubjectAccessReview attributes
   * and the reviewer. Spread it and add the adapter's own options:
   * `fastifyKubeAuth, { ...auth.adapterOptions(), header: auth.config.header }`. A route that cannot work with them
   * (revocation-sensitive with `K8S_AUTH_REVOCATION=none` or without an API server; its own `access` without an API
   * server) throws the same {@link ConfigError} in every adapter, where the route is declared.
   */
  adapterOptions(): KubeAuthAdapterOptions;
  /**
   * Resolves when the service can decide: the issuers' keys are held (local mode) and the revocation watch has
   * synced and is not stale. Rejects otherwise; a readiness probe answers 503 then.
   */
  ready(): Promise<void>;
  /** Stops the revocation watch, if any. */
  close(): void;
}

/**
 * Builds everything a service needs from a validated configuration. Asynchronous because it may have to load
 * `@kubernetes/client-node` (about 1.4 s and 70 MiB, so only when an API server is configured: a kubeconfig, or
 * in-cluster credentials, and not `K8S_AUTH_KUBECONFIG=none`) and read the kubeconfig; everything that can be wrong
 * with it is a {@link ConfigError} here, at start-up, never on a request.
 */
export async function createKubeAuth(config: KubeAuthConfig, deps: KubeAuthDependencies = {}): Promise<KubeAuth> {
  // The API server serves whatever was not injected: TokenReview, the watch, SubjectAccessReview (of every route or
  // of routes declared later with their own attributes).
  const injected =
    deps.tokenReviewClient !== undefined &&
    deps.subjectAccessReviewClient !== undefined &&
    (config.revocation !== 'watch' || deps.metadataClient !== undefined);
  let kubeConfig = deps.kubeConfig;
  if (kubeConfig === undefined && !injected) {
    try {
      kubeConfig = await loadKubeConfig(config.kubeconfig);
    } catch (err) {
      if (err instanceof KubeConfigLoadError) throw new ConfigError(err.variable, err.message);
      throw err;
    }
  }
  return new KubeAuthService(config, deps, kubeConfig);
}

/**
 * {@link loadConfig} then {@link createKubeAuth}: the one call a service makes at start-up, before it listens
 * (`const auth = await kubeAuthFromEnv()`). Rejects with a {@link ConfigError} naming the variable to fix.
 */
export async function kubeAuthFromEnv(env: Env = process.env, deps: KubeAuthDependencies = {}): Promise<KubeAuth> {
  return createKubeAuth(loadConfig(env), deps);
}

const needsApiServer = (what: string) =>
  new ConfigError(
    'K8S_AUTH_KUBECONFIG',
    `${what} needs the API server: run in a pod (in-cluster credentials) or set K8S_AUTH_KUBECONFIG`,
  );

/**
 * The {@link KubeAuth} that {@link createKubeAuth} assembles, once the kubeconfig (if any) is loaded: synchronous,
 * and it loads nothing. Exported for the express entry, which gives it `middleware()`.
 */
export class KubeAuthService implements KubeAuth {
  readonly config: KubeAuthConfig;
  readonly verifier: ServiceAccountVerifier;
  readonly policy: Policy;
  readonly revocation: KubeAuth['revocation'];
  readonly #local: LocalVerifier | undefined;
  readonly #routeVerifier: Verifier;
  readonly #makeReviewer: (() => SubjectAccessReviewer) | undefined;
  #accessReviewer: SubjectAccessReviewer | undefined;

  constructor(config: KubeAuthConfig, deps: KubeAuthDependencies, kubeConfig: KubeConfig | undefined) {
    this.config = config;
    const fetch =
      deps.fetch ??
      createKubeFetch({
        caFile: config.caFile,
        tokenSource: config.tokenFile ? new FileTokenSource({ path: config.tokenFile, clock: deps.clock }) : undefined,
      });
    const local =
      config.mode === 'local' || config.tokenReviewPrecheck ? localVerifier(config, fetch, deps) : undefined;
    this.#local = local;
    // TokenReview mode needs an API server; local mode asks it only where revocation needs it (revocation-sensitive
    // routes, tokens the watch cannot judge), never with K8S_AUTH_REVOCATION=none. Never the silent
    // http://localhost:8080 that client-node falls back to when it finds nothing.
    const client = deps.tokenReviewClient ?? kubeConfig;
    if (!client && config.mode === 'tokenreview') throw needsApiServer('tokenreview mode');
    const reviews = config.mode === 'tokenreview' || config.revocation !== 'none';
    const tokenReview = client && reviews ? tokenReviewVerifier(config, client, deps) : undefined;
    this.verifier = new ServiceAccountVerifier({
      mode: config.mode,
      local,
      tokenReview,
      reviewUnavailable:
        config.revocation === 'none'
          ? new ConfigError('K8S_AUTH_REVOCATION', 'a revocation-sensitive route needs tokenreview or watch, not none')
          : needsApiServer('a revocation-sensitive route (TokenReview)'),
    });
    // With RBAC deciding and no allow-list, the policy admits every authenticated ServiceAccount.
    const policy =
      config.allow.length === 0 && config.allowGroups.length === 0 && config.access
        ? new Policy({ allow: ['*'] })
        : new Policy({ allow: config.allow, allowGroups: config.allowGroups });
    this.policy = policy;
    if (config.mode === 'local' && config.revocation === 'watch') {
      const metadataClient = deps.metadataClient ?? kubeConfig;
      if (!metadataClient) throw needsApiServer('watch-mode revocation');
      const watch = new BoundObjectWatch({
        client: metadataClient,
        namespaces: config.revocationNamespaces,
        maxStalenessSeconds: config.revocationMaxStalenessSeconds,
        timeoutMs: config.timeoutMs,
        clock: deps.clock,
      }).start();
      const verifier = new WatchRevocationVerifier({
        verifier: this.verifier,
        checker: new RevocationChecker({ watch, timeoutMs: config.timeoutMs, clock: deps.clock }),
        fallback: config.revocationFallback === 'tokenreview' ? tokenReview : undefined,
        // A caller the policy refuses anyway costs no live read and no TokenReview.
        shouldCheck: (identity) => policy.decide(identity).allowed,
      });
      this.revocation = { watch, verifier };
    }
    this.#routeVerifier = this.revocation?.verifier ?? this.verifier;
    const sarClient = deps.subjectAccessReviewClient ?? kubeConfig;
    this.#makeReviewer = sarClient
      ? () =>
          new SubjectAccessReviewer({
            client: sarClient,
            allowTtlSeconds: config.accessAllowTtlSeconds,
            denyTtlSeconds: config.accessDenyTtlSeconds,
            cacheMaxEntries: config.cacheMaxEntries,
            timeoutMs: config.timeoutMs,
            clock: deps.clock,
          })
      : undefined;
    if (config.access && !this.#makeReviewer) throw needsApiServer('SubjectAccessReview authorization');
  }

  get accessReviewer(): SubjectAccessReviewer | undefined {
    return (this.#accessReviewer ??= this.#makeReviewer?.());
  }

  adapterOptions(): KubeAuthAdapterOptions {
    const reviewer = this.accessReviewer;
    return {
      verifier: this.#routeVerifier,
      policy: this.policy,
      maxTokenBytes: this.config.maxTokenBytes,
      ...(this.config.access ? { access: this.config.access } : {}),
      accessReviewer:
        reviewer ??
        (() => {
          throw needsApiServer('a route with its own access attributes (SubjectAccessReview)');
        }),
    };
  }

  async ready(): Promise<void> {
    // TokenReview mode needs no key set to serve (its pre-check falls through without one).
    if (this.config.mode === 'local' && this.#local) await this.#local.warm();
    const revocation = this.revocation;
    if (revocation && !revocation.watch.ready) {
      throw new Error(`the revocation watch of ${revocation.watch.namespaces.join(', ')} is not synced or is stale`);
    }
  }

  close(): void {
    this.revocation?.watch.stop();
  }

  /** Replaced by the express entry when it is imported (see `adapters/express.ts`). */
  middleware(_options?: unknown): never {
    throw new TypeError(
      "auth.middleware() is the express adapter's: import '@kube-service-auth/verifier/express' before calling it",
    );
  }
}

function localVerifier(config: KubeAuthConfig, fetch: FetchLike, deps: KubeAuthDependencies): LocalVerifier {
  return new LocalVerifier({
    issuers: config.issuers,
    audience: config.audiences,
    fetch,
    algorithms: config.algorithms,
    leewaySeconds: config.leewaySeconds,
    maxTokenBytes: config.maxTokenBytes,
    cacheTtlSeconds: config.cacheTtlSeconds,
    cacheMaxEntries: config.cacheMaxEntries,
    requirePodBinding: config.requirePodBinding,
    requireNodeBinding: config.requireNodeBinding,
    jwks: {
      cooldown: config.jwksCooldownSeconds,
      maxStaleness: config.jwksMaxStalenessSeconds,
      maxMaxAge: config.jwksMaxAgeSeconds,
      timeoutMs: config.timeoutMs,
    },
    clock: deps.clock,
    onEvent: deps.onEvent,
  });
}

function tokenReviewVerifier(
  config: KubeAuthConfig,
  client: TokenReviewClient | KubeConfig,
  deps: KubeAuthDependencies,
): TokenReviewVerifier {
  return new TokenReviewVerifier({
    client,
    audience: config.audiences,
    requirePodBinding: config.requirePodBinding,
    requireNodeBinding: config.requireNodeBinding,
    cacheTtlSeconds: config.tokenReviewCacheTtlSeconds,
    negativeCacheTtlSeconds: config.tokenReviewNegativeCacheTtlSeconds,
    cacheMaxEntries: config.cacheMaxEntries,
    maxInflight: config.tokenReviewMaxInflight,
    timeoutMs: config.timeoutMs,
    maxTokenBytes: config.maxTokenBytes,
    clock: deps.clock,
    onEvent: deps.onEvent,
  });
}
