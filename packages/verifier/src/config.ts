import { existsSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { admittedNamespaces } from './admitted-namespaces.js';
import { checkAlgorithms, DEFAULT_ALGORITHMS } from './algorithms.js';
import { KubeConfigLoadError, loadKubeConfig } from './client-node.js';
import { BoundObjectWatch } from './bound-object-watch.js';
import type { Clock } from './clock.js';
import type { EventListener } from './events.js';
import { kubeAuth } from './express.js';
import { createKubeFetch, type FetchLike } from './http.js';
import type { MetadataClient } from './metadata-client.js';
import { LocalVerifier, type IssuerConfig } from './local-verifier.js';
import { Policy } from './policy.js';
import { RevocationChecker } from './revocation.js';
import {
  SubjectAccessReviewer,
  validateAccessAttributes,
  type AccessAttributes,
  type SubjectAccessReviewClient,
} from './subject-access-review.js';
import { DEFAULT_MAX_TOKEN_BYTES } from './token.js';
import { TokenReviewVerifier, type TokenReviewClient } from './token-review.js';
import { FileTokenSource } from './token-source.js';
import { ServiceAccountVerifier, type VerificationMode, type Verifier } from './verifier.js';
import { WatchRevocationVerifier } from './watch-verifier.js';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Everything the environment configures, validated. See the package README for the variables. */
export interface KubeAuthConfig {
  mode: VerificationMode;
  audiences: string[];
  issuers: IssuerConfig[];
  caFile: string | undefined;
  tokenFile: string | undefined;
  /**
   * The kubeconfig file for the API server (TokenReview, the revocation watch, SubjectAccessReview); undefined: what
   * client-node finds by default ($KUBECONFIG, ~/.kube/config, in-cluster); `none`: no API server at all.
   */
  kubeconfig: string | undefined;
  allow: string[];
  allowGroups: string[];
  header: string;
  algorithms: string[];
  leewaySeconds: number;
  requirePodBinding: boolean;
  requireNodeBinding: boolean;
  maxTokenBytes: number;
  cacheTtlSeconds: number;
  cacheMaxEntries: number;
  jwksCooldownSeconds: number;
  jwksMaxStalenessSeconds: number;
  jwksMaxAgeSeconds: number;
  tokenReviewCacheTtlSeconds: number;
  tokenReviewNegativeCacheTtlSeconds: number;
  tokenReviewMaxInflight: number;
  /** In `tokenreview` mode, verify tokens offline before reviewing them (see {@link ServiceAccountVerifierOptions.local}). */
  tokenReviewPrecheck: boolean;
  timeoutMs: number;
  /**
   * How a deleted pod or ServiceAccount is caught in local mode: `tokenreview` (revocation-sensitive routes confirm
   * each token with TokenReview), `watch` (every route, against a watch of the admitted namespaces; no API call per
   * request) or `none` (never; revocation-sensitive routes answer 503).
   */
  revocation: 'tokenreview' | 'watch' | 'none';
  /** Namespaces the watch follows (default: those the allow-list admits). */
  revocationNamespaces: string[];
  revocationMaxStalenessSeconds: number;
  /** What a token the watch cannot judge gets: a TokenReview, or `none` (503 `revocation_unavailable`). */
  revocationFallback: 'tokenreview' | 'none';
  /** Static SubjectAccessReview attributes of every route (the cluster's RBAC decides), if configured. */
  access: AccessAttributes | undefined;
  accessAllowTtlSeconds: number;
  accessDenyTtlSeconds: number;
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

type Env = Record<string, string | undefined>;

/** Reads and validates the `K8S_AUTH_*` variables. Throws {@link ConfigError} on the first invalid one. */
export function loadConfig(env: Env = process.env): KubeAuthConfig {
  const get = (name: string) => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const list = (name: string) =>
    (get(name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(name, `expected an integer from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
  const bool = (name: string, fallback: boolean) => {
    const raw = get(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    throw new ConfigError(name, `expected true or false, got "${raw}"`);
  };
  const file = (name: string, fallback: string) => {
    const raw = get(name);
    if (raw === 'none') return undefined;
    if (raw !== undefined) {
      if (!existsSync(raw)) throw new ConfigError(name, `file ${raw} does not exist`);
      return raw;
    }
    return existsSync(fallback) ? fallback : undefined;
  };

  const mode = get('K8S_AUTH_MODE') ?? 'local';
  if (mode !== 'local' && mode !== 'tokenreview')
    throw new ConfigError('K8S_AUTH_MODE', `expected local or tokenreview, got "${mode}"`);

  const audiences = list('K8S_AUTH_AUDIENCE');
  if (audiences.length === 0) {
    throw new ConfigError('K8S_AUTH_AUDIENCE', 'required: the audience tokens must be minted for (e.g. data-store)');
  }

  const issuerNames =
    get('K8S_AUTH_ISSUER') === undefined ? ['https://kubernetes.default.svc.cluster.local'] : list('K8S_AUTH_ISSUER');
  if (issuerNames.length === 0) throw new ConfigError('K8S_AUTH_ISSUER', 'at least one issuer is required');
  for (const issuer of issuerNames) {
    if (!/^https:\/\/[^\s]+$/.test(issuer))
      throw new ConfigError('K8S_AUTH_ISSUER', `issuer "${issuer}" is not an https URL`);
  }
  const jwksUris = list('K8S_AUTH_JWKS_URI');
  if (jwksUris.length > 0 && jwksUris.length !== issuerNames.length) {
    throw new ConfigError('K8S_AUTH_JWKS_URI', `give one URI per issuer (${issuerNames.length}), in the same order`);
  }
  for (const uri of jwksUris) {
    if (!/^https?:\/\/[^\s]+$/.test(uri)) throw new ConfigError('K8S_AUTH_JWKS_URI', `"${uri}" is not a URL`);
  }
  const issuers = issuerNames.map((issuer, i) => (jwksUris[i] ? { issuer, jwksUri: jwksUris[i] } : { issuer }));

  const allow = list('K8S_AUTH_ALLOWED_IDENTITIES');
  const allowGroups = list('K8S_AUTH_ALLOWED_GROUPS');
  const access = accessAttributes(get);
  if (allow.length === 0 && allowGroups.length === 0 && !access) {
    throw new ConfigError(
      'K8S_AUTH_ALLOWED_IDENTITIES',
      'required: list the callers to allow (e.g. system:serviceaccount:api:api), or * for any ServiceAccount, or let RBAC decide with K8S_AUTH_SAR_VERB',
    );
  }
  try {
    new Policy({ allow, allowGroups });
  } catch (err) {
    throw new ConfigError('K8S_AUTH_ALLOWED_IDENTITIES', (err as Error).message);
  }

  let algorithms: string[];
  try {
    algorithms = checkAlgorithms(
      get('K8S_AUTH_ALGORITHMS') === undefined ? DEFAULT_ALGORITHMS : list('K8S_AUTH_ALGORITHMS'),
    );
  } catch (err) {
    throw new ConfigError('K8S_AUTH_ALGORITHMS', (err as Error).message);
  }

  const header = (get('K8S_AUTH_HEADER') ?? 'authorization').toLowerCase();
  if (!/^[a-z0-9-]+$/.test(header)) throw new ConfigError('K8S_AUTH_HEADER', `"${header}" is not a header name`);

  const kubeconfig = get('K8S_AUTH_KUBECONFIG');
  if (kubeconfig !== undefined && kubeconfig !== 'none' && !existsSync(kubeconfig)) {
    throw new ConfigError('K8S_AUTH_KUBECONFIG', `file ${kubeconfig} does not exist`);
  }

  const revocation = get('K8S_AUTH_REVOCATION') ?? 'tokenreview';
  if (revocation !== 'tokenreview' && revocation !== 'watch' && revocation !== 'none') {
    throw new ConfigError('K8S_AUTH_REVOCATION', `expected tokenreview, watch or none, got "${revocation}"`);
  }
  if (revocation === 'watch' && mode === 'tokenreview') {
    throw new ConfigError(
      'K8S_AUTH_REVOCATION',
      'watch needs K8S_AUTH_MODE=local (TokenReview mode already asks the API server about every token)',
    );
  }
  let revocationNamespaces = list('K8S_AUTH_REVOCATION_NAMESPACES');
  for (const ns of revocationNamespaces) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns))
      throw new ConfigError('K8S_AUTH_REVOCATION_NAMESPACES', `"${ns}" is not a namespace name`);
  }
  if (revocation === 'watch' && revocationNamespaces.length === 0) {
    const derived = access ? undefined : admittedNamespaces(allow, allowGroups);
    if (!derived || derived.length === 0) {
      throw new ConfigError(
        'K8S_AUTH_REVOCATION_NAMESPACES',
        'required with K8S_AUTH_REVOCATION=watch when the allowed callers do not name their namespaces (*, broad groups, or RBAC)',
      );
    }
    revocationNamespaces = derived;
  }
  const revocationFallback = get('K8S_AUTH_REVOCATION_FALLBACK') ?? 'tokenreview';
  if (revocationFallback !== 'tokenreview' && revocationFallback !== 'none') {
    throw new ConfigError('K8S_AUTH_REVOCATION_FALLBACK', `expected tokenreview or none, got "${revocationFallback}"`);
  }

  return {
    mode,
    audiences,
    issuers,
    caFile: file('K8S_AUTH_CA_FILE', `${SA_DIR}/ca.crt`),
    tokenFile: file('K8S_AUTH_TOKEN_FILE', `${SA_DIR}/token`),
    kubeconfig,
    allow,
    allowGroups,
    header,
    algorithms,
    leewaySeconds: int('K8S_AUTH_LEEWAY_SECONDS', 60, 0, 600),
    requirePodBinding: bool('K8S_AUTH_REQUIRE_POD_BINDING', false),
    requireNodeBinding: bool('K8S_AUTH_REQUIRE_NODE_BINDING', false),
    maxTokenBytes: int('K8S_AUTH_MAX_TOKEN_BYTES', DEFAULT_MAX_TOKEN_BYTES, 512, 65_536),
    cacheTtlSeconds: int('K8S_AUTH_CACHE_TTL_SECONDS', 3600, 0, 86400),
    cacheMaxEntries: int('K8S_AUTH_CACHE_MAX_ENTRIES', 10_000, 1, 10_000_000),
    jwksCooldownSeconds: int('K8S_AUTH_JWKS_COOLDOWN_SECONDS', 5, 1, 3600),
    jwksMaxStalenessSeconds: int('K8S_AUTH_JWKS_MAX_STALENESS_SECONDS', 3600, 0, 7 * 86_400),
    jwksMaxAgeSeconds: int('K8S_AUTH_JWKS_MAX_AGE_SECONDS', 3600, 10, 86_400),
    tokenReviewCacheTtlSeconds: int('K8S_AUTH_TOKENREVIEW_CACHE_TTL_SECONDS', 10, 0, 300),
    tokenReviewNegativeCacheTtlSeconds: int('K8S_AUTH_TOKENREVIEW_NEGATIVE_CACHE_TTL_SECONDS', 5, 0, 300),
    tokenReviewMaxInflight: int('K8S_AUTH_TOKENREVIEW_MAX_INFLIGHT', 100, 1, 100_000),
    tokenReviewPrecheck: bool('K8S_AUTH_TOKENREVIEW_PRECHECK', true),
    timeoutMs: int('K8S_AUTH_TIMEOUT_MS', 5000, 100, 60_000),
    revocation,
    revocationNamespaces,
    revocationMaxStalenessSeconds: int('K8S_AUTH_REVOCATION_MAX_STALENESS_SECONDS', 10, 0, 3600),
    revocationFallback,
    access,
    accessAllowTtlSeconds: int('K8S_AUTH_SAR_ALLOW_TTL_SECONDS', 10, 0, 3600),
    accessDenyTtlSeconds: int('K8S_AUTH_SAR_DENY_TTL_SECONDS', 10, 0, 3600),
  };
}

/**
 * `K8S_AUTH_SAR_*`: the static attributes every route protects, for SubjectAccessReview. `K8S_AUTH_SAR_RESOURCE` is
 * `<resource>[.<group>][/<subresource>]` (as kubectl writes it: `records.data.example.com`); `K8S_AUTH_SAR_PATH` a
 * non-resource path instead.
 */
function accessAttributes(get: (name: string) => string | undefined): AccessAttributes | undefined {
  const verb = get('K8S_AUTH_SAR_VERB');
  const resource = get('K8S_AUTH_SAR_RESOURCE');
  const path = get('K8S_AUTH_SAR_PATH');
  const namespace = get('K8S_AUTH_SAR_NAMESPACE');
  const name = get('K8S_AUTH_SAR_NAME');
  if (verb === undefined) {
    for (const other of ['K8S_AUTH_SAR_RESOURCE', 'K8S_AUTH_SAR_PATH', 'K8S_AUTH_SAR_NAMESPACE', 'K8S_AUTH_SAR_NAME']) {
      if (get(other) !== undefined) throw new ConfigError('K8S_AUTH_SAR_VERB', `required when ${other} is set`);
    }
    return undefined;
  }
  if ((resource === undefined) === (path === undefined)) {
    throw new ConfigError('K8S_AUTH_SAR_RESOURCE', 'give exactly one of K8S_AUTH_SAR_RESOURCE or K8S_AUTH_SAR_PATH');
  }
  let attributes: AccessAttributes;
  if (path !== undefined) {
    if (namespace !== undefined || name !== undefined)
      throw new ConfigError('K8S_AUTH_SAR_PATH', 'a non-resource path takes no namespace or name');
    attributes = { verb, path };
  } else {
    const [qualified = '', subresource] = (resource as string).split('/');
    const dot = qualified.indexOf('.');
    attributes = {
      verb,
      resource: dot < 0 ? qualified : qualified.slice(0, dot),
      ...(dot < 0 ? {} : { group: qualified.slice(dot + 1) }),
      ...(subresource ? { subresource } : {}),
      ...(namespace ? { namespace } : {}),
      ...(name ? { name } : {}),
    };
  }
  try {
    return validateAccessAttributes(attributes);
  } catch (err) {
    throw new ConfigError(path !== undefined ? 'K8S_AUTH_SAR_PATH' : 'K8S_AUTH_SAR_RESOURCE', (err as Error).message);
  }
}

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

/** What {@link KubeAuth.adapterOptions} gives: the options every adapter (fastify, gRPC, `createAuthenticate`) shares. */
export interface KubeAuthAdapterOptions {
  verifier: Verifier;
  policy: Policy;
  maxTokenBytes: number;
  access?: AccessAttributes;
  accessReviewer?: SubjectAccessReviewer;
}

/**
 * A configured verifier and policy. With `@kube-service-auth/verifier/express` imported, it also has
 * `middleware(options?)`: the express middleware for one route (declared there, so that the root entry carries no
 * express types).
 */
export interface KubeAuth {
  config: KubeAuthConfig;
  verifier: ServiceAccountVerifier;
  policy: Policy;
  /** With `K8S_AUTH_REVOCATION=watch`: the watch of pods and ServiceAccounts and the verifier the routes use. */
  revocation: { watch: BoundObjectWatch; verifier: WatchRevocationVerifier } | undefined;
  /**
   * Asks the cluster's RBAC (SubjectAccessReview): about every route with `K8S_AUTH_SAR_VERB`, and about the routes
   * that state their own `access` (give it to the fastify plugin and the gRPC interceptor for those). Built on first
   * use; undefined when no API server is configured.
   */
  readonly accessReviewer: SubjectAccessReviewer | undefined;
  /**
   * The configured options for the fastify plugin and the gRPC interceptor, as `middleware()` applies them for express:
   * the route verifier (the revocation watch's with `K8S_AUTH_REVOCATION=watch`), the policy, the token size bound,
   * the environment's SubjectAccessReview attributes and a reviewer whenever an API server is configured. Spread it
   * and add the adapter's own options: `fastifyKubeAuth, { ...auth.adapterOptions(), header: auth.config.header }`.
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
  return assemble(config, deps, kubeConfig);
}

/** {@link createKubeAuth} once the kubeconfig (if any) is loaded: synchronous, and it loads nothing. */
function assemble(config: KubeAuthConfig, deps: KubeAuthDependencies, kubeConfig: KubeConfig | undefined): KubeAuth {
  const fetch =
    deps.fetch ??
    createKubeFetch({
      caFile: config.caFile,
      tokenSource: config.tokenFile ? new FileTokenSource({ path: config.tokenFile, clock: deps.clock }) : undefined,
    });
  const local =
    config.mode === 'local' || config.tokenReviewPrecheck
      ? new LocalVerifier({
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
        })
      : undefined;
  // TokenReview mode needs an API server; local mode builds a client only when one is configured (a kubeconfig, an
  // injected client, or running in a pod), for revocation-sensitive routes. Never the silent http://localhost:8080
  // that client-node falls back to when it finds nothing.
  const client = deps.tokenReviewClient ?? kubeConfig;
  if (!client && config.mode === 'tokenreview') {
    throw new ConfigError(
      'K8S_AUTH_KUBECONFIG',
      'tokenreview mode needs the API server: run in a pod (in-cluster credentials) or set K8S_AUTH_KUBECONFIG',
    );
  }
  const tokenReview = client
    ? new TokenReviewVerifier({
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
      })
    : undefined;
  const verifier = new ServiceAccountVerifier({ mode: config.mode, local, tokenReview });
  const cluster = (what: string): KubeConfig => {
    const kc = kubeConfig;
    if (!kc)
      throw new ConfigError(
        'K8S_AUTH_KUBECONFIG',
        `${what} needs the API server: run in a pod (in-cluster credentials) or set K8S_AUTH_KUBECONFIG`,
      );
    return kc;
  };
  // With RBAC deciding and no allow-list, the policy admits every authenticated ServiceAccount.
  const policy =
    config.allow.length === 0 && config.allowGroups.length === 0 && config.access
      ? new Policy({ allow: ['*'] })
      : new Policy({ allow: config.allow, allowGroups: config.allowGroups });
  let revocation: KubeAuth['revocation'];
  if (config.mode === 'local' && config.revocation === 'watch') {
    const watch = new BoundObjectWatch({
      client: deps.metadataClient ?? cluster('watch-mode revocation'),
      namespaces: config.revocationNamespaces,
      maxStalenessSeconds: config.revocationMaxStalenessSeconds,
      timeoutMs: config.timeoutMs,
      clock: deps.clock,
    }).start();
    const routeVerifier = new WatchRevocationVerifier({
      verifier,
      checker: new RevocationChecker({ watch, timeoutMs: config.timeoutMs, clock: deps.clock }),
      fallback: config.revocationFallback === 'tokenreview' ? tokenReview : undefined,
      // A caller the policy refuses anyway costs no live read and no TokenReview.
      shouldCheck: (identity) => policy.decide(identity).allowed,
    });
    revocation = { watch, verifier: routeVerifier };
  }
  const routeVerifier: Verifier = revocation?.verifier ?? verifier;
  const makeReviewer = () =>
    new SubjectAccessReviewer({
      client: deps.subjectAccessReviewClient ?? cluster('SubjectAccessReview authorization'),
      allowTtlSeconds: config.accessAllowTtlSeconds,
      denyTtlSeconds: config.accessDenyTtlSeconds,
      cacheMaxEntries: config.cacheMaxEntries,
      timeoutMs: config.timeoutMs,
      clock: deps.clock,
    });
  let accessReviewer = config.access ? makeReviewer() : undefined;
  return {
    config,
    verifier,
    policy,
    revocation,
    get accessReviewer() {
      if (!accessReviewer && (deps.subjectAccessReviewClient || kubeConfig)) accessReviewer = makeReviewer();
      return accessReviewer;
    },
    adapterOptions() {
      const reviewer = this.accessReviewer;
      return {
        verifier: routeVerifier,
        policy,
        maxTokenBytes: config.maxTokenBytes,
        ...(config.access ? { access: config.access } : {}),
        ...(reviewer ? { accessReviewer: reviewer } : {}),
      };
    },
    async ready() {
      // TokenReview mode needs no key set to serve (its pre-check falls through without one).
      if (config.mode === 'local' && local) await local.warm();
      if (revocation && !revocation.watch.ready) {
        throw new Error(`the revocation watch of ${revocation.watch.namespaces.join(', ')} is not synced or is stale`);
      }
    },
    close() {
      revocation?.watch.stop();
    },
    middleware: (options = {}) => {
      if (options.revocationSensitive && config.mode === 'local') {
        // Routes are built at start-up: refuse to start rather than fail every request of this route.
        if (config.revocation === 'none') {
          throw new ConfigError(
            'K8S_AUTH_REVOCATION',
            'a revocation-sensitive route needs tokenreview or watch, not none',
          );
        }
        if (config.revocation === 'tokenreview' && !verifier.canReview) {
          throw new ConfigError(
            'K8S_AUTH_KUBECONFIG',
            'a revocation-sensitive route needs TokenReview: run in a pod (in-cluster credentials) or set K8S_AUTH_KUBECONFIG',
          );
        }
      }
      return kubeAuth({
        verifier: routeVerifier,
        policy,
        header: config.header,
        maxTokenBytes: config.maxTokenBytes,
        access: config.access,
        accessReviewer,
        ...options,
        // A route that states its own attributes gets a reviewer even when the environment configures none.
        ...(options.access && !options.accessReviewer ? { accessReviewer: (accessReviewer ??= makeReviewer()) } : {}),
      });
    },
  };
}

/**
 * {@link loadConfig} then {@link createKubeAuth}: the one call a service makes at start-up, before it listens
 * (`const auth = await kubeAuthFromEnv()`). Rejects with a {@link ConfigError} naming the variable to fix.
 */
export async function kubeAuthFromEnv(env: Env = process.env, deps: KubeAuthDependencies = {}): Promise<KubeAuth> {
  return createKubeAuth(loadConfig(env), deps);
}
