import type { KubeConfig, V1TokenReview } from '@kubernetes/client-node';
import { apiExceptionStatus, isKubeConfig } from '../kube/client-node.js';
import { tokenReviewClient, type TokenReviewClient } from '../kube/review-clients.js';
import type { MaybePromise } from '../lib/maybe-promise.js';
import { decodeUnverified } from '../token/unverified.js';
import type { Verifier, VerifyOptions } from './verifier.js';
import { systemClock, type Clock } from '../clock.js';
import { KubeAuthError, type ReasonCode } from '../errors.js';
import type { EventListener } from '../events.js';
import {
  cacheUntil,
  identityFromReview,
  type BindingRequirements,
  type ServiceAccountIdentity,
} from '../identity/identity.js';
import { checkToken, type CheckedToken } from '../token/checked-token.js';
import { freezeIdentity } from '../identity/immutable.js';
import { numberOption } from '../options.js';
import { ResultCache } from '../lib/result-cache.js';
import { DEFAULT_MAX_TOKEN_BYTES } from '../token/extract.js';

/** Options of {@link TokenReviewVerifier}. */
export interface TokenReviewVerifierOptions extends BindingRequirements {
  /** Where reviews go: a client, or a kubeconfig to build one from. */
  client: TokenReviewClient | KubeConfig;
  /** The audience sent in `spec.audiences`; the review must return it in `status.audiences`. Required. */
  audience: string | string[];
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
  /** Time-out of one review, in milliseconds; the HTTP request is aborted when it passes. Default 5000. */
  timeoutMs?: number;
  /**
   * Most reviews of distinct tokens in flight at once (concurrent requests for one token share a review). Past it,
   * a new token is answered `tokenreview_overloaded` (503) without reaching the API server. Default 100.
   */
  maxInflight?: number;
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
export class TokenReviewVerifier implements Verifier {
  readonly mode = 'tokenreview' as const;
  /** True: the API server sees deleted pods and ServiceAccounts. */
  readonly canReview = true;
  private readonly client: TokenReviewClient;
  private readonly audiences: string[];
  private readonly cache: ResultCache<Outcome>;
  private readonly inflight = new Map<string, Promise<Outcome>>();
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly timeoutMs: number;
  private readonly maxTokenBytes: number;
  private readonly maxInflight: number;
  private readonly requirements: BindingRequirements;
  private reviewCount = 0;

  constructor(private readonly options: TokenReviewVerifierOptions) {
    this.client = isKubeConfig(options.client) ? tokenReviewClient(options.client) : options.client;
    this.audiences = [options.audience].flat();
    if (this.audiences.length === 0 || this.audiences.some((a) => !a)) throw new Error('an audience is required');
    this.clock = options.clock ?? systemClock;
    this.ttlMs = numberOption('cacheTtlSeconds', options.cacheTtlSeconds, 10) * 1000;
    this.negativeTtlMs = numberOption('negativeCacheTtlSeconds', options.negativeCacheTtlSeconds, 5) * 1000;
    this.timeoutMs = numberOption('timeoutMs', options.timeoutMs, 5000, { min: 1 });
    this.maxInflight = numberOption('maxInflight', options.maxInflight, 100, { min: 1, integer: true });
    this.maxTokenBytes = numberOption('maxTokenBytes', options.maxTokenBytes, DEFAULT_MAX_TOKEN_BYTES, {
      min: 1,
      integer: true,
    });
    this.requirements = {
      requirePodBinding: options.requirePodBinding,
      requireNodeBinding: options.requireNodeBinding,
    };
    this.cache = new ResultCache({
      maxEntries: numberOption('cacheMaxEntries', options.cacheMaxEntries, 10_000, { min: 1, integer: true }),
      maxRejections: numberOption('negativeCacheMaxEntries', options.negativeCacheMaxEntries, 10_000, {
        min: 1,
        integer: true,
      }),
      clock: this.clock,
    });
  }

  /** How many TokenReviews were sent to the API server. */
  get reviews(): number {
    return this.reviewCount;
  }

  /** Reviews of distinct tokens waiting for the API server right now (bounded by `maxInflight`). */
  get inflightReviews(): number {
    return this.inflight.size;
  }

  /** Entries in the review cache (bounded by `cacheMaxEntries`), e.g. for a metrics gauge. */
  get cacheSize(): number {
    return this.cache.size;
  }

  requireReview(): void {}

  /** Reviews a token and returns who it belongs to, or throws a {@link KubeAuthError}. */
  async verify(token: string | CheckedToken, options?: VerifyOptions): Promise<ServiceAccountIdentity> {
    return this.check(token, options);
  }

  /**
   * As {@link verify}, synchronously on a cached result; a promise when the API server must be asked. Every call is
   * revocation-checked by the API server (within its own 10 s cache and this one's `cacheTtlSeconds`).
   */
  check(token: string | CheckedToken, _options?: VerifyOptions): MaybePromise<ServiceAccountIdentity> {
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
      if (this.inflight.size >= this.maxInflight) {
        // Not cached and never sent: the API server is protected, and the caller may retry in a moment.
        throw new KubeAuthError('tokenreview_overloaded', `${this.maxInflight} TokenReviews are already in flight`);
      }
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
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const result = await abortable(
        this.client.createTokenReview(
          { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: this.audiences } },
          { signal: abort.signal },
        ),
        abort.signal,
      );
      status = result.status;
    } catch (cause) {
      // Outages are not cached: the next request asks again.
      const reason: ReasonCode =
        apiExceptionStatus(cause) === 403 ? 'tokenreview_forbidden' : 'tokenreview_unavailable';
      const why = abort.signal.aborted ? (abort.signal.reason as Error).message : describeFailure(cause);
      const error = new KubeAuthError(reason, `TokenReview failed: ${why}`, { cause });
      this.options.onEvent?.({
        type: 'token_review',
        ok: false,
        reason,
        durationMs: performance.now() - started,
        error: error.message,
      });
      throw error;
    } finally {
      clearTimeout(timer);
    }
    this.options.onEvent?.({
      type: 'token_review',
      ok: true,
      authenticated: status?.authenticated === true,
      durationMs: performance.now() - started,
    });
    const outcome = this.judge(status, token);
    const now = this.clock();
    if (outcome.ok) freezeIdentity(outcome.identity);
    this.cache.set(
      key,
      outcome,
      outcome.ok ? cacheUntil(outcome.identity, now, this.ttlMs) : now + this.negativeTtlMs,
      !outcome.ok,
    );
    return outcome;
  }

  private judge(status: V1TokenReview['status'], token: string): Outcome {
    try {
      const identity = identityFromReview(status, {
        configuredAudiences: this.audiences,
        tokenPayload: authenticatedPayload(token),
        ...this.requirements,
      });
      return { ok: true, identity };
    } catch (err) {
      if (err instanceof KubeAuthError) return { ok: false, error: err };
      throw err;
    }
  }
}

/** The payload of a token the API server has just authenticated (so it is genuine); only its times and iss are read. */
function authenticatedPayload(token: string): Record<string, unknown> | undefined {
  return decodeUnverified(token)?.payload;
}

/**
 * Settles with `promise`, or rejects as soon as `signal` aborts: a client that ignores the signal cannot hold a
 * request past the time-out, while one that honours it (the default client) also closes its connection.
 */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the signal's own reason (a TimeoutError or AbortError)
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function describeFailure(cause: unknown): string {
  const status = apiExceptionStatus(cause);
  if (status !== undefined) {
    const body = (cause as { body?: unknown }).body as { message?: unknown } | string | undefined;
    const message = typeof body === 'object' && body && typeof body.message === 'string' ? body.message : '';
    return `HTTP ${status}${message ? `: ${message}` : ''}`;
  }
  return cause instanceof Error ? cause.message : String(cause);
}
