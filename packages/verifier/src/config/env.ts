/**
 * Configuration: how a service is set up from its environment. `env.ts` reads and validates the `K8S_AUTH_*`
 * variables into a {@link KubeAuthConfig} (a {@link ConfigError} names the first bad one); `kube-auth.ts` assembles
 * the verifiers, the policy and the reviewers from it, and decides once, for every adapter, what a route may ask
 * for. Nothing here knows a framework: the adapters import config, never the reverse.
 */
import { existsSync } from 'node:fs';
import type { IssuerConfig } from '../authn/local-verifier.js';
import type { VerificationMode } from '../authn/verifier.js';
import { admittedNamespaces } from '../authz/admitted-namespaces.js';
import { Policy } from '../authz/policy.js';
import { validateAccessAttributes, type AccessAttributes } from '../authz/subject-access-review.js';
import { ConfigError } from '../errors.js';
import { checkAlgorithms, DEFAULT_ALGORITHMS } from '../token/algorithms.js';
import { DEFAULT_MAX_TOKEN_BYTES } from '../token/extract.js';

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

/** The environment, as `process.env` gives it. */
export type Env = Record<string, string | undefined>;

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
