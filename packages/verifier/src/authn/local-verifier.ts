import { checkAlgorithms, DEFAULT_ALGORITHMS } from '../token/algorithms.js';
import { checkToken, type CheckedToken } from '../token/checked-token.js';
import { systemClock, type Clock } from '../clock.js';
import { KubeAuthError } from '../errors.js';
import type { EventListener } from '../events.js';
import type { FetchLike } from '../kube/http.js';
import {
  cacheUntil,
  identityFromClaims,
  type BindingRequirements,
  type ServiceAccountIdentity,
} from '../identity/identity.js';
import { freezeIdentity } from '../identity/immutable.js';
import type { HeldKey } from '../keys/held-key.js';
import { JwksCache, type JwksCacheOptions } from '../keys/jwks-cache.js';
import { decodeJws, verifySignature, type DecodedJws } from '../token/jws.js';
import { numberOption } from '../options.js';
import { checkRegisteredClaims } from './registered-claims.js';
import type { Verifier, VerifyOptions } from './verifier.js';
import { chain, type MaybePromise } from '../lib/maybe-promise.js';
import { ResultCache } from '../lib/result-cache.js';
import { DEFAULT_MAX_TOKEN_BYTES } from '../token/extract.js';

/** A verified token, as cached: the identity and the key that verified it (the entry is good while the key is held). */
interface VerifiedEntry {
  identity: ServiceAccountIdentity;
  keySet: JwksCache;
  key: HeldKey;
}

/** One trusted issuer and where its keys are. */
export interface IssuerConfig {
  /** Must equal the tokens' `iss` (the API server's `--service-account-issuer`). */
  issuer: string;
  /** Overrides the discovered `jwks_uri`, e.g. `https://kubernetes.default.svc/openid/v1/jwks`. */
  jwksUri?: string;
  /** The network for this issuer, when it differs from {@link LocalVerifierOptions.fetch}. */
  fetch?: FetchLike;
}

/** Tuning of the key-set cache shared by all issuers (see {@link JwksCacheOptions}). */
export type JwksTuning = Pick<
  JwksCacheOptions,
  | 'defaultMaxAge'
  | 'minMaxAge'
  | 'maxMaxAge'
  | 'cooldown'
  | 'retryAfterFailure'
  | 'maxStaleness'
  | 'timeoutMs'
  | 'unknownKidWaitMs'
>;

/** Options of {@link LocalVerifier}. */
export interface LocalVerifierOptions extends BindingRequirements {
  /** Trusted issuers; each has its own key set. At least one. */
  issuers: Array<string | IssuerConfig>;
  /** The audience this service accepts (a token must name at least one of them). Required: there is no "any". */
  audience: string | string[];
  /** The network used to fetch discovery documents and key sets. */
  fetch: FetchLike;
  /** Allowed `alg` values. Default RS256, ES256, ES384, ES512. */
  algorithms?: readonly string[];
  /** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. Default 60, as the API server uses. */
  leewaySeconds?: number;
  /** Longest token accepted, in bytes. Default 8192. */
  maxTokenBytes?: number;
  /**
   * Verified tokens are remembered (by hash of the whole token) for this many seconds, never past `exp`, and only while
   * the key set still has the key that verified them. 0 disables. Default 3600 (a result cannot change before `exp`
   * unless its key goes: this mostly means "until exp").
   */
  cacheTtlSeconds?: number;
  /** Bound of the verified-token cache. Default 10000. */
  cacheMaxEntries?: number;
  jwks?: JwksTuning;
  clock?: Clock;
  onEvent?: EventListener;
}

/**
 * Verifies ServiceAccount tokens offline: signature with the issuer's published keys (alg allow-list), issuer,
 * audience, `exp`/`nbf`/`iat` with leeway, and the `kubernetes.io` claims. It cannot see a deleted pod or
 * ServiceAccount; see {@link TokenReviewVerifier} for that.
 */
export class LocalVerifier implements Verifier {
  readonly mode = 'local' as const;
  /** False: offline verification cannot see a deleted pod (see {@link ServiceAccountVerifier} for TokenReview). */
  readonly canReview = false;
  private readonly keySets: Map<string, JwksCache>;
  private readonly audiences: string[];
  private readonly algorithms: string[];
  private readonly leeway: number;
  private readonly maxTokenBytes: number;
  private readonly cacheTtlMs: number;
  private readonly cache: ResultCache<VerifiedEntry>;
  private readonly clock: Clock;
  private readonly requirements: BindingRequirements;
  private readonly onEvent: EventListener | undefined;

  constructor(options: LocalVerifierOptions) {
    if (options.issuers.length === 0) throw new Error('at least one issuer is required');
    this.audiences = [options.audience].flat();
    if (this.audiences.length === 0 || this.audiences.some((a) => !a)) throw new Error('an audience is required');
    this.algorithms = checkAlgorithms(options.algorithms ?? DEFAULT_ALGORITHMS);
    this.leeway = numberOption('leewaySeconds', options.leewaySeconds, 60);
    this.maxTokenBytes = numberOption('maxTokenBytes', options.maxTokenBytes, DEFAULT_MAX_TOKEN_BYTES, {
      min: 1,
      integer: true,
    });
    this.cacheTtlMs = numberOption('cacheTtlSeconds', options.cacheTtlSeconds, 3600) * 1000;
    this.clock = options.clock ?? systemClock;
    this.onEvent = options.onEvent;
    this.requirements = {
      requirePodBinding: options.requirePodBinding,
      requireNodeBinding: options.requireNodeBinding,
    };
    const maxEntries = numberOption('cacheMaxEntries', options.cacheMaxEntries, 10_000, { min: 1, integer: true });
    this.cache = new ResultCache({ maxEntries, clock: this.clock });
    this.keySets = new Map(
      options.issuers.map((entry) => {
        const config = typeof entry === 'string' ? { issuer: entry } : entry;
        const cache = new JwksCache({
          ...options.jwks,
          issuer: config.issuer,
          jwksUri: config.jwksUri,
          fetch: config.fetch ?? options.fetch,
          clock: this.clock,
          onEvent: options.onEvent,
        });
        return [config.issuer, cache];
      }),
    );
  }

  /** The key-set cache of each issuer (for readiness checks and metrics). */
  get jwks(): ReadonlyMap<string, JwksCache> {
    return this.keySets;
  }

  /** Entries in the verified-token cache (bounded by `cacheMaxEntries`), e.g. for a metrics gauge. */
  get cacheSize(): number {
    return this.cache.size;
  }

  /**
   * Resolves once every issuer's key set is held (fetching those that are not); rejects with `jwks_unavailable` if one
   * cannot be had. Cheap when warm, so readiness probes may call it.
   */
  async warm(): Promise<void> {
    await Promise.all([...this.keySets.values()].map((k) => k.ensure()));
  }

  requireReview(): void {
    throw new TypeError(
      'a LocalVerifier checks tokens offline and cannot see a deleted pod: give revocation-sensitive routes a ServiceAccountVerifier with a TokenReviewVerifier, or a WatchRevocationVerifier',
    );
  }

  /** Verifies a token and returns who it belongs to, or throws a {@link KubeAuthError}. */
  async verify(token: string | CheckedToken, options?: VerifyOptions): Promise<ServiceAccountIdentity> {
    return this.check(token, options);
  }

  /**
   * As {@link verify}, synchronously whenever it can: a cached result, or a signature check with the issuer's key
   * already held (node:crypto verifies on the calling thread). A promise only when keys must be fetched. Errors are
   * thrown (or rejected) as {@link KubeAuthError}s. The returned identity is frozen: it may be shared by requests.
   */
  check(token: string | CheckedToken, options?: VerifyOptions): MaybePromise<ServiceAccountIdentity> {
    if (options?.revocationSensitive) {
      // Never less than asked for: a revocation-sensitive call needs a verifier that can confirm (canReview).
      throw new KubeAuthError('tokenreview_unavailable', 'offline verification cannot check revocation');
    }
    const checked = checkToken(token, this.maxTokenBytes);
    if (this.cacheTtlMs > 0) {
      // One reading of the clock for the whole hit: each costs ~0.1 µs on these VMs, a tenth of the repeat caller's path.
      const now = this.clock();
      const entry = this.cache.get(checked.hash, now);
      // A verified result stays true until exp, unless the key set no longer has the key that verified it.
      const hit = entry !== undefined && entry.keySet.stillHas(entry.key, now);
      if (this.onEvent) this.onEvent({ type: 'cache', cache: 'verified', hit });
      if (hit) return entry.identity;
      if (entry !== undefined) this.cache.delete(checked.hash);
    } else if (this.onEvent) {
      this.onEvent({ type: 'cache', cache: 'verified', hit: false });
    }

    const jws = decodeJws(checked.value);
    const alg = jws.alg;
    if (!this.algorithms.includes(alg)) throw new KubeAuthError('algorithm_not_allowed', `alg ${alg} is not allowed`);
    const iss = jws.payload.iss;
    const keySet = typeof iss === 'string' ? this.keySets.get(iss) : undefined;
    // An unknown issuer is refused before any key is fetched, so foreign tokens cause no network traffic.
    if (!keySet) throw new KubeAuthError('issuer_mismatch', `issuer ${String(iss)} is not trusted`, { claim: 'iss' });
    const kid = jws.header.kid;
    if (kid !== undefined && typeof kid !== 'string') throw new KubeAuthError('key_not_found', 'kid is not a string');
    return chain(keySet.resolve(kid, alg), (key) => this.verifyWithKey(checked, jws, keySet, key));
  }

  private verifyWithKey(
    checked: CheckedToken,
    jws: DecodedJws,
    keySet: JwksCache,
    key: HeldKey,
  ): ServiceAccountIdentity {
    if (!verifySignature(jws, key.forAlg(jws.alg))) throw new KubeAuthError('signature_invalid');
    const now = this.clock();
    const payload = jws.payload;
    checkRegisteredClaims(payload, keySet.issuer, this.audiences, now, this.leeway);
    if ((payload.iat as number) > now / 1000 + this.leeway) {
      throw new KubeAuthError('token_not_yet_valid', 'iat is in the future', { claim: 'iat' });
    }
    const identity = freezeIdentity(identityFromClaims(payload, this.audiences, this.requirements));
    if (this.cacheTtlMs > 0)
      this.cache.set(checked.hash, { identity, keySet, key }, cacheUntil(identity, now, this.cacheTtlMs));
    return identity;
  }
}
