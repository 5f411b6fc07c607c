import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { checkAlgorithms, DEFAULT_ALGORITHMS } from './algorithms.js';
import { parseServiceAccountClaims, type ClaimRequirements } from './claims.js';
import { systemClock, type Clock } from './clock.js';
import { KubeAuthError } from './errors.js';
import type { EventListener } from './events.js';
import type { FetchLike } from './http.js';
import type { ServiceAccountIdentity } from './identity.js';
import { JwksCache, type JwksCacheOptions } from './jwks-cache.js';
import { ResultCache } from './result-cache.js';
import { assertCompactJws, DEFAULT_MAX_TOKEN_BYTES } from './token.js';
import { tokenHash } from './token-hash.js';

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
  'defaultMaxAge' | 'minMaxAge' | 'maxMaxAge' | 'cooldown' | 'retryAfterFailure' | 'maxStaleness' | 'timeoutMs'
>;

/** Options of {@link LocalVerifier}. */
export interface LocalVerifierOptions extends ClaimRequirements {
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
  /** Verified tokens are remembered (by hash) for this many seconds, never past `exp`. 0 disables. Default 10. */
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
export class LocalVerifier {
  private readonly keySets: Map<string, JwksCache>;
  private readonly audiences: string[];
  private readonly algorithms: string[];
  private readonly leeway: number;
  private readonly maxTokenBytes: number;
  private readonly cacheTtlMs: number;
  private readonly cache: ResultCache<ServiceAccountIdentity>;
  private readonly clock: Clock;
  private readonly requirements: ClaimRequirements;
  private readonly onEvent: EventListener | undefined;

  constructor(options: LocalVerifierOptions) {
    if (options.issuers.length === 0) throw new Error('at least one issuer is required');
    this.audiences = [options.audience].flat();
    if (this.audiences.length === 0 || this.audiences.some((a) => !a)) throw new Error('an audience is required');
    this.algorithms = checkAlgorithms(options.algorithms ?? DEFAULT_ALGORITHMS);
    this.leeway = options.leewaySeconds ?? 60;
    this.maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
    this.cacheTtlMs = (options.cacheTtlSeconds ?? 10) * 1000;
    this.clock = options.clock ?? systemClock;
    this.onEvent = options.onEvent;
    this.requirements = { requirePodBinding: options.requirePodBinding, requireNodeBinding: options.requireNodeBinding };
    this.cache = new ResultCache({ maxEntries: options.cacheMaxEntries ?? 10_000, clock: this.clock });
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

  /** Verifies a token and returns who it belongs to, or throws a {@link KubeAuthError}. */
  async verify(token: string): Promise<ServiceAccountIdentity> {
    assertCompactJws(token, this.maxTokenBytes);
    const key = tokenHash(token);
    const cached = this.cache.get(key);
    if (this.onEvent) this.onEvent({ type: 'cache', cache: 'verified', hit: cached !== undefined });
    if (cached) return cached;

    const { alg, iss } = peek(token);
    if (!this.algorithms.includes(alg)) throw new KubeAuthError('algorithm_not_allowed', `alg ${alg} is not allowed`);
    const keySet = typeof iss === 'string' ? this.keySets.get(iss) : undefined;
    // An unknown issuer is refused before any key is fetched, so foreign tokens cause no network traffic.
    if (!keySet) throw new KubeAuthError('issuer_mismatch', `issuer ${String(iss)} is not trusted`, { claim: 'iss' });

    const now = this.clock();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header) => keySet.getKey(header.kid, header.alg), {
        issuer: keySet.issuer,
        audience: this.audiences,
        algorithms: this.algorithms,
        clockTolerance: this.leeway,
        currentDate: new Date(now),
        requiredClaims: ['exp', 'iat', 'sub'],
      }));
    } catch (err) {
      throw mapJoseError(err);
    }
    if ((payload.iat as number) > now / 1000 + this.leeway) {
      throw new KubeAuthError('token_not_yet_valid', 'iat is in the future', { claim: 'iat' });
    }
    const tokenAudiences = [payload.aud ?? []].flat();
    const identity = parseServiceAccountClaims(
      payload,
      this.audiences.filter((a) => tokenAudiences.includes(a)),
      this.requirements,
    );
    if (this.cacheTtlMs > 0) this.cache.set(key, identity, Math.min(now + this.cacheTtlMs, (payload.exp as number) * 1000));
    return identity;
  }
}

/** The unverified `alg` and `iss`, read only to choose a key set; the signature check follows. */
function peek(token: string): { alg: string; iss: unknown } {
  try {
    const header = decodeProtectedHeader(token);
    const payload = decodeJwt(token);
    if (typeof header.alg !== 'string') throw new Error('no alg');
    return { alg: header.alg, iss: payload.iss };
  } catch (cause) {
    throw new KubeAuthError('token_malformed', 'the token header or payload cannot be decoded', { cause });
  }
}

const CLAIM_REASONS = {
  iss: 'issuer_mismatch',
  aud: 'audience_mismatch',
  nbf: 'token_not_yet_valid',
  iat: 'token_not_yet_valid',
  exp: 'token_expired',
} as const;

function mapJoseError(err: unknown): KubeAuthError {
  if (err instanceof KubeAuthError) return err;
  if (err instanceof joseErrors.JWTExpired) return new KubeAuthError('token_expired', undefined, { claim: 'exp', cause: err });
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = String(err.claim);
    // A missing claim is claim_invalid, except aud: a token minted for no audience is not meant for ours.
    // A time claim that is not a number is malformed, not expired or early.
    const code =
      (err.reason === 'missing' && claim !== 'aud') || err.reason === 'invalid'
        ? undefined
        : CLAIM_REASONS[claim as keyof typeof CLAIM_REASONS];
    return new KubeAuthError(code ?? 'claim_invalid', err.message, { claim, cause: err });
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new KubeAuthError('signature_invalid', undefined, { cause: err });
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new KubeAuthError('algorithm_not_allowed', err.message, { cause: err });
  return new KubeAuthError('token_malformed', err instanceof Error ? err.message : undefined, { cause: err });
}
