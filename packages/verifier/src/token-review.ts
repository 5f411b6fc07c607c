import { ApiException, AuthenticationV1Api, KubeConfig, type V1TokenReview } from '@kubernetes/client-node';
import { systemClock, type Clock } from './clock.js';
import { KubeAuthError, type ReasonCode } from './errors.js';
import type { EventListener } from './events.js';
import { parseServiceAccountUsername, type ServiceAccountIdentity } from './identity.js';
import { checkToken, type CheckedToken } from './checked-token.js';
import { freezeIdentity } from './immutable-identity.js';
import { ResultCache } from './result-cache.js';
import { DEFAULT_MAX_TOKEN_BYTES } from './token.js';

/** Creates TokenReviews. The default talks to the API server through `@kubernetes/client-node`. */
export interface TokenReviewClient {
  createTokenReview(review: V1TokenReview): Promise<V1TokenReview>;
}

/** A {@link TokenReviewClient} for a kubeconfig (`KubeConfig.loadFromDefault()` gives in-cluster credentials in a pod). */
export function tokenReviewClient(kubeConfig: KubeConfig): TokenReviewClient {
  const api = kubeConfig.makeApiClient(AuthenticationV1Api);
  return { createTokenReview: (body) => api.createTokenReview({ body }) };
}

/** Options of {@link TokenReviewVerifier}. */
export interface TokenReviewVerifierOptions {
  /** Where reviews go: a client, or a kubeconfig to build one from. */
  client: TokenReviewClient | KubeConfig;
  /** The audience sent in `spec.audiences`; the review must return it in `status.audiences`. Required. */
  audience: string | string[];
  /** Accept only tokens bound to a pod. */
  requirePodBinding?: boolean;
  /** Successful reviews are remembered (by token hash) this long, never past `exp`. Default 10 (as the API server). */
  cacheTtlSeconds?: number;
  /** Rejections are remembered this long, so a replayed bad token does not hammer the API server. Default 5. 0 disables. */
  negativeCacheTtlSeconds?: number;
  /** Bound of the cache of successful reviews. Default 10000. */
  cacheMaxEntries?: number;
  /**
   * Bound of the cache of rejections, apart from successes: a flood of distinct bad tokens fills this one only, and
   * valid callers stay cached. Default 10000.
   */
  negativeCacheMaxEntries?: number;
  /** Time-out of one review, in milliseconds. Default 5000. */
  timeoutMs?: number;
  maxTokenBytes?: number;
  clock?: Clock;
  onEvent?: EventListener;
}

type Outcome = { ok: true; identity: ServiceAccountIdentity } | { ok: false; error: KubeAuthError };

/**
 * Asks the API server (`authentication.k8s.io/v1` TokenReview) whether a token is valid for our audience: the only way
 * to see that the pod or ServiceAccount a token is bound to was deleted before the token expires. Results are cached
 * briefly and concurrent reviews of one token share a single request. An API server that cannot be reached or that
 * refuses us is `tokenreview_unavailable` / `tokenreview_forbidden`, never an invalid token.
 */
export class TokenReviewVerifier {
  private readonly client: TokenReviewClient;
  private readonly audiences: string[];
  private readonly cache: ResultCache<Outcome>;
  private readonly inflight = new Map<string, Promise<Outcome>>();
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly timeoutMs: number;
  private readonly maxTokenBytes: number;
  private reviewCount = 0;

  constructor(private readonly options: TokenReviewVerifierOptions) {
    this.client = options.client instanceof KubeConfig ? tokenReviewClient(options.client) : options.client;
    this.audiences = [options.audience].flat();
    if (this.audiences.length === 0 || this.audiences.some((a) => !a)) throw new Error('an audience is required');
    this.clock = options.clock ?? systemClock;
    this.ttlMs = (options.cacheTtlSeconds ?? 10) * 1000;
    this.negativeTtlMs = (options.negativeCacheTtlSeconds ?? 5) * 1000;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
    this.cache = new ResultCache({
      maxEntries: options.cacheMaxEntries ?? 10_000,
      maxRejections: options.negativeCacheMaxEntries ?? 10_000,
      clock: this.clock,
    });
  }

  /** How many TokenReviews were sent to the API server. */
  get reviews(): number {
    return this.reviewCount;
  }

  /** Entries in the review cache (bounded by `cacheMaxEntries`), e.g. for a metrics gauge. */
  get cacheSize(): number {
    return this.cache.size;
  }

  /** Reviews a token and returns who it belongs to, or throws a {@link KubeAuthError}. */
  async verify(token: string | CheckedToken): Promise<ServiceAccountIdentity> {
    return this.check(token);
  }

  /** As {@link verify}, synchronously on a cached result; a promise when the API server must be asked. */
  check(token: string | CheckedToken): ServiceAccountIdentity | Promise<ServiceAccountIdentity> {
    // Shape is checked first so that garbage never costs the API server anything.
    const checked = checkToken(token, this.maxTokenBytes);
    const key = checked.hash;
    const outcome = this.cache.get(key);
    this.options.onEvent?.({ type: 'cache', cache: 'token_review', hit: outcome !== undefined });
    if (outcome) {
      if (!outcome.ok) throw outcome.error;
      return outcome.identity;
    }
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.review(checked.value, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending.then((result) => {
      if (!result.ok) throw result.error;
      return result.identity;
    });
  }

  private async review(token: string, key: string): Promise<Outcome> {
    const started = performance.now();
    this.reviewCount++;
    let status: V1TokenReview['status'];
    try {
      const result = await withTimeout(
        this.client.createTokenReview({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: this.audiences },
        }),
        this.timeoutMs,
      );
      status = result.status;
    } catch (cause) {
      // Outages are not cached: the next request asks again.
      const reason: ReasonCode = cause instanceof ApiException && cause.code === 403 ? 'tokenreview_forbidden' : 'tokenreview_unavailable';
      const error = new KubeAuthError(reason, `TokenReview failed: ${describeFailure(cause)}`, { cause });
      this.options.onEvent?.({ type: 'token_review', ok: false, reason, durationMs: performance.now() - started, error: error.message });
      throw error;
    }
    this.options.onEvent?.({
      type: 'token_review',
      ok: true,
      authenticated: status?.authenticated === true,
      durationMs: performance.now() - started,
    });
    const outcome = this.judge(status, token);
    const now = this.clock();
    const expiresAt = outcome.ok
      ? Math.min(now + this.ttlMs, outcome.identity.expiresAt?.getTime() ?? now + this.ttlMs)
      : now + this.negativeTtlMs;
    if (outcome.ok) freezeIdentity(outcome.identity);
    this.cache.set(key, outcome, expiresAt, !outcome.ok);
    return outcome;
  }

  private judge(status: V1TokenReview['status'], token: string): Outcome {
    const reject = (code: ReasonCode, message: string, claim?: string): Outcome => ({
      ok: false,
      error: new KubeAuthError(code, message, claim ? { claim } : undefined),
    });
    if (status?.authenticated !== true) {
      // status.error is the API server's own words (e.g. "pod not found"); it never contains the token.
      return reject('tokenreview_rejected', `the API server did not authenticate the token${status?.error ? `: ${status.error}` : ''}`);
    }
    const accepted = this.audiences.filter((a) => status.audiences?.includes(a));
    if (accepted.length === 0) return reject('audience_mismatch', 'the review does not confirm our audience', 'aud');
    const username = status.user?.username ?? '';
    const sa = parseServiceAccountUsername(username);
    if (!sa) return reject('claim_invalid', 'the token does not belong to a ServiceAccount', 'sub');
    const extra = status.user?.extra ?? {};
    const first = (name: string): string | undefined => extra[`authentication.kubernetes.io/${name}`]?.[0];
    const identity: ServiceAccountIdentity = {
      username,
      namespace: sa.namespace,
      serviceAccount: { name: sa.name, uid: status.user?.uid ?? '' },
      groups: status.user?.groups ?? [],
      audiences: accepted,
      verifiedBy: 'tokenreview',
    };
    const podName = first('pod-name');
    const podUid = first('pod-uid');
    if (podName && podUid) identity.pod = { name: podName, uid: podUid };
    const nodeName = first('node-name');
    const nodeUid = first('node-uid');
    if (nodeName && nodeUid) identity.node = { name: nodeName, uid: nodeUid };
    const credentialId = first('credential-id');
    if (credentialId) identity.credentialId = credentialId.replace(/^JTI=/, '');
    const claims = unverifiedTimes(token);
    if (claims.exp) identity.expiresAt = new Date(claims.exp * 1000);
    if (claims.iat) identity.issuedAt = new Date(claims.iat * 1000);
    if (typeof claims.iss === 'string') identity.issuer = claims.iss;
    if (this.options.requirePodBinding && !identity.pod) {
      return reject('claim_invalid', 'the token is not bound to a pod', 'kubernetes.io');
    }
    return { ok: true, identity };
  }
}

/** `exp`, `iat` and `iss` of a token the API server has just authenticated (so its payload is genuine). */
function unverifiedTimes(token: string): { exp?: number; iat?: number; iss?: unknown } {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    return {
      exp: typeof payload.exp === 'number' ? payload.exp : undefined,
      iat: typeof payload.iat === 'number' ? payload.iat : undefined,
      iss: payload.iss,
    };
  } catch {
    return {};
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describeFailure(cause: unknown): string {
  if (cause instanceof ApiException) {
    const body = cause.body as { message?: unknown } | string | undefined;
    const message = typeof body === 'object' && body && typeof body.message === 'string' ? body.message : '';
    return `HTTP ${cause.code}${message ? `: ${message}` : ''}`;
  }
  return cause instanceof Error ? cause.message : String(cause);
}
