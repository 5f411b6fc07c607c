/**
 * The issuer's keys: its OIDC discovery document (`discovery.ts`) and its key set, cached for the server's
 * `max-age`, refetched (bounded) for an unknown `kid`, and kept past freshness while refreshes fail, then failing
 * closed ({@link JwksCache}). A key is imported once and carried across refetches ({@link HeldKey}).
 */
import type { JWK } from 'jose';
import { systemClock, type Clock } from '../clock.js';
import { fetchDiscoveryDocument } from './discovery.js';
import { KubeAuthError } from '../errors.js';
import type { EventListener } from '../events.js';
import { readJson, type FetchLike } from '../kube/http.js';
import { HeldKey, type VerificationKey } from './held-key.js';
import { numberOption } from '../options.js';

/** Options of {@link JwksCache}. Durations are in seconds. */
export interface JwksCacheOptions {
  /** The issuer whose keys these are; used for discovery and in errors and events. */
  issuer: string;
  /** Where the key set is; when absent it is discovered from `<issuer>/.well-known/openid-configuration`. */
  jwksUri?: string;
  /** The network; see {@link createKubeFetch} for one that talks to an API server. */
  fetch: FetchLike;
  clock?: Clock;
  /** Freshness when the server sends no `Cache-Control: max-age`. Default 300. */
  defaultMaxAge?: number;
  /** Bounds applied to the server's `max-age`. Defaults 10 and 3600. */
  minMaxAge?: number;
  maxMaxAge?: number;
  /**
   * An unknown `kid` causes at most one refetch per this many seconds. A token whose `kid` is unknown within the
   * cooldown waits for the next refetch it allows when that comes within `timeoutMs` (so a freshly rotated key is
   * not refused); otherwise it is `key_not_found` at once. Default 5, so that with the default time-out no valid
   * token is refused after a rotation.
   */
  cooldown?: number;
  /** After a failed fetch, no new attempt for this many seconds (requests meanwhile fail fast). Default 5. */
  retryAfterFailure?: number;
  /** How long past its freshness the last good key set is still used while refreshes fail. Default 3600. */
  maxStaleness?: number;
  /** Time-out of one discovery or key-set request, in milliseconds. Default 5000. */
  timeoutMs?: number;
  /**
   * Longest a token with an unknown `kid` waits, in milliseconds, for the next refetch the cooldown allows; when that
   * refetch is further away, the token is `key_not_found` at once. Default `timeoutMs`. 0 never waits.
   */
  unknownKidWaitMs?: number;
  onEvent?: EventListener;
}

interface KeySet {
  byKid: Map<string, HeldKey>;
  all: HeldKey[];
  keys: Set<HeldKey>;
  fetchedAt: number;
  freshUntil: number;
  staleUntil: number;
}

const MAX_JWKS_BYTES = 256 * 1024;

/**
 * The key set of one issuer: fetched lazily, cached for the server's `max-age` (bounded), refreshed in the background
 * once stale, refetched at most once per cooldown for an unknown `kid` (concurrent refetches share one request), and
 * kept for `maxStaleness` when refreshes fail. Past that, lookups fail closed with `jwks_unavailable`.
 */
export class JwksCache {
  readonly issuer: string;
  private readonly options: Required<Omit<JwksCacheOptions, 'jwksUri' | 'onEvent'>> & Pick<JwksCacheOptions, 'onEvent'>;
  private jwksUri: string | undefined;
  // The last good key set (a plain field: it is read on every request, cache hits included). Freshness and the
  // staleness bound are judged against the injected clock.
  private current: KeySet | undefined;
  private inflight: Promise<KeySet> | undefined;
  /** The refetch that tokens with an unknown kid wait for while the cooldown runs. */
  private scheduled: Promise<KeySet> | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastFailure: { at: number; error: KubeAuthError } | undefined;
  private fetchCount = 0;

  constructor(options: JwksCacheOptions) {
    this.issuer = options.issuer;
    this.jwksUri = options.jwksUri;
    const num = (name: keyof JwksCacheOptions, fallback: number, min = 0) =>
      numberOption(name, options[name] as number | undefined, fallback, { min });
    const timeoutMs = num('timeoutMs', 5000, 1);
    this.options = {
      issuer: options.issuer,
      fetch: options.fetch,
      clock: options.clock ?? systemClock,
      defaultMaxAge: num('defaultMaxAge', 300),
      minMaxAge: num('minMaxAge', 10),
      maxMaxAge: num('maxMaxAge', 3600),
      cooldown: num('cooldown', 5),
      retryAfterFailure: num('retryAfterFailure', 5),
      maxStaleness: num('maxStaleness', 3600),
      timeoutMs,
      unknownKidWaitMs: num('unknownKidWaitMs', timeoutMs),
      onEvent: options.onEvent,
    };
  }

  /** How many times the key set was requested from the network (successful or not). */
  get fetches(): number {
    return this.fetchCount;
  }

  /** Fetches the key set now, whatever the cache holds. */
  async refresh(): Promise<void> {
    await this.fetchCoalesced();
  }

  /**
   * Resolves when a usable key set is held, fetching one only when none is (cold start, or past the staleness bound):
   * what a readiness probe should call, since probes run every few seconds on every replica.
   */
  async ensure(): Promise<void> {
    if (!this.usableSet(this.options.clock())) await this.fetchCoalesced();
  }

  /**
   * The key for a token's `kid` and `alg`. Throws `key_not_found` when the key set has no such key even after the
   * refetch that the cooldown allows, `algorithm_not_allowed` when the key is not for `alg`, `key_unusable` when the
   * published key cannot be imported, `jwks_unavailable` when no usable key set can be had, and
   * `issuer_misconfigured` when discovery points the key set at another origin.
   */
  async getKey(kid: string | undefined, alg: string): Promise<VerificationKey> {
    return (await this.resolve(kid, alg)).keyFor(alg);
  }

  /**
   * As {@link getKey}, but answers synchronously when the held key set has the key (every request but the first ones
   * after a rotation); a promise only when a fetch is needed. Errors are thrown synchronously or rejected.
   */
  resolve(kid: string | undefined, alg: string): HeldKey | Promise<HeldKey> {
    const now = this.options.clock();
    const set = this.usableSet(now);
    if (set) {
      this.refreshIfStale(set, now);
      const held = findKey(set, kid, alg);
      if (held) return checkKeyAlg(held, kid, alg);
    }
    return this.resolveByFetching(kid, alg, set, now);
  }

  /**
   * True while the usable key set still holds `key`: a signature verified with it is still good. False once the key
   * set dropped it (rotation) or once no usable key set is held. Starts a background refresh when the set is stale.
   * `now` is the caller's reading of the same clock, when it has one.
   */
  stillHas(key: HeldKey, now: number = this.options.clock()): boolean {
    const set = this.usableSet(now);
    if (!set) return false;
    this.refreshIfStale(set, now);
    return set.keys.has(key);
  }

  private refreshIfStale(set: KeySet, now: number): void {
    if (now < set.freshUntil) return;
    this.options.onEvent?.({ type: 'jwks_stale', issuer: this.issuer, ageSeconds: (now - set.fetchedAt) / 1000 });
    // Serve the stale set now; refresh behind the request so that a slow key server does not slow requests.
    if (this.mayAttempt(now, this.options.retryAfterFailure)) this.fetchCoalesced().catch(() => {});
  }

  private async resolveByFetching(
    kid: string | undefined,
    alg: string,
    held: KeySet | undefined,
    now: number,
  ): Promise<HeldKey> {
    let set = held ?? (await this.fetchCoalesced());
    let key = findKey(set, kid, alg);
    if (!key) {
      set = await this.refetchForUnknownKid(now, kid, alg);
      key = findKey(set, kid, alg);
      if (!key)
        throw new KubeAuthError(
          'key_not_found',
          `no key ${kid ?? '(no kid)'} for ${alg} in the key set of ${this.issuer}`,
        );
    }
    return checkKeyAlg(key, kid, alg);
  }

  /**
   * The key set after the refetch an unknown `kid` may cause: the one in flight, one now if the cooldown allows it,
   * else the next one the cooldown allows if it comes within the time-out (all waiters share it, so a flood of random
   * kids still costs at most one fetch per cooldown). Past that wait, `key_not_found` at once.
   */
  private async refetchForUnknownKid(now: number, kid: string | undefined, alg: string): Promise<KeySet> {
    if (this.inflight) return this.inflight;
    if (this.mayAttempt(now, this.options.cooldown)) return this.fetchCoalesced();
    if (this.scheduled) return this.scheduled;
    const nextAllowed = Math.max(
      this.lastAttemptAt + this.options.cooldown * 1000,
      this.lastFailure ? this.lastFailure.at + this.options.retryAfterFailure * 1000 : 0,
    );
    const waitMs = nextAllowed - now;
    if (waitMs > this.options.unknownKidWaitMs) {
      throw new KubeAuthError(
        'key_not_found',
        `no key ${kid ?? '(no kid)'} for ${alg} in the key set of ${this.issuer}; the next refetch is ${Math.ceil(waitMs / 1000)} s away`,
      );
    }
    this.scheduled = new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, waitMs)))
      .then(() => this.fetchCoalesced())
      .finally(() => {
        this.scheduled = undefined;
      });
    return this.scheduled;
  }

  private usableSet(now: number): KeySet | undefined {
    const set = this.current;
    return set !== undefined && now < set.staleUntil ? set : undefined;
  }

  private mayAttempt(now: number, spacingSeconds: number): boolean {
    if (this.inflight) return false;
    if (this.lastFailure && now - this.lastFailure.at < this.options.retryAfterFailure * 1000) return false;
    return now - this.lastAttemptAt >= spacingSeconds * 1000;
  }

  private fetchCoalesced(): Promise<KeySet> {
    if (this.inflight) return this.inflight;
    const now = this.options.clock();
    if (this.lastFailure && now - this.lastFailure.at < this.options.retryAfterFailure * 1000) {
      // Fail fast during an outage instead of queueing every request behind another doomed request.
      return Promise.reject(this.lastFailure.error);
    }
    this.lastAttemptAt = now;
    this.inflight = this.fetchKeySet().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchKeySet(): Promise<KeySet> {
    const started = this.options.clock();
    const startedMono = performance.now();
    this.fetchCount++;
    try {
      if (!this.jwksUri) {
        const discovered = (await fetchDiscoveryDocument(this.issuer, this.options.fetch, this.options.timeoutMs))
          .jwks_uri;
        // The fetch carries our own ServiceAccount token: follow a discovered jwks_uri only on the issuer's origin.
        // Another address (e.g. the node IP that kube-apiserver advertises) must be configured explicitly.
        if (new URL(discovered).origin !== new URL(this.issuer).origin) {
          // A permanent misconfiguration, not an outage: answered 500 without a retry hint.
          throw new KubeAuthError(
            'issuer_misconfigured',
            `the discovered jwks_uri ${discovered} is not on the origin of issuer ${this.issuer}; configure jwksUri (K8S_AUTH_JWKS_URI) to use it`,
          );
        }
        this.jwksUri = discovered;
      }
      const response = await this.options.fetch(this.jwksUri, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      if (response.status !== 200) throw new Error(`GET ${this.jwksUri}: HTTP ${response.status}`);
      const keys = parseKeySet(await readJson(response, MAX_JWKS_BYTES));
      const maxAge = clamp(
        parseMaxAge(response.headers.get('cache-control')) ?? this.options.defaultMaxAge,
        this.options.minMaxAge,
        this.options.maxMaxAge,
      );
      const now = this.options.clock();
      // A key that is unchanged keeps its HeldKey (its import, and the validity of what it verified).
      const previous = new Map(this.current?.all.map((k) => [k.material, k]));
      const all = keys.map((jwk) => {
        const material = materialOf(jwk);
        return previous.get(material) ?? new HeldKey(jwk, material);
      });
      const set: KeySet = {
        byKid: new Map(all.filter((k) => typeof k.jwk.kid === 'string').map((k) => [k.jwk.kid as string, k])),
        all,
        keys: new Set(all),
        fetchedAt: now,
        freshUntil: now + maxAge * 1000,
        staleUntil: now + (maxAge + this.options.maxStaleness) * 1000,
      };
      this.current = set;
      this.lastFailure = undefined;
      this.options.onEvent?.({
        type: 'jwks_fetch',
        issuer: this.issuer,
        ok: true,
        keys: keys.length,
        durationMs: performance.now() - startedMono,
        maxAgeSeconds: maxAge,
      });
      return set;
    } catch (cause) {
      const error =
        cause instanceof KubeAuthError
          ? cause
          : new KubeAuthError('jwks_unavailable', `cannot fetch the key set of ${this.issuer}: ${describe(cause)}`, {
              cause,
            });
      this.lastFailure = { at: started, error };
      this.options.onEvent?.({
        type: 'jwks_fetch',
        issuer: this.issuer,
        ok: false,
        durationMs: performance.now() - startedMono,
        error: error.message,
      });
      throw error;
    }
  }
}

function findKey(set: KeySet, kid: string | undefined, alg: string): HeldKey | undefined {
  if (kid !== undefined) return set.byKid.get(kid);
  // Without a kid, a key is chosen only when exactly one could fit the algorithm (as jose does).
  const candidates = set.all.filter((k) => fitsAlgorithm(k.jwk, alg));
  return candidates.length === 1 ? candidates[0] : undefined;
}

function checkKeyAlg(key: HeldKey, kid: string | undefined, alg: string): HeldKey {
  if (!fitsAlgorithm(key.jwk, alg)) {
    // Kubernetes publishes the algorithm of each key; a token must use that one (no cross-algorithm use of a key).
    // Without a published alg, the key type and curve decide, so that only a broken key fails to import.
    const keyIs = key.jwk.alg ?? `${String(key.jwk.kty)} ${key.jwk.crv ?? ''}`.trim();
    throw new KubeAuthError('algorithm_not_allowed', `key ${kid ?? ''} is for ${keyIs}, the token uses ${alg}`);
  }
  return key;
}

// Everything that makes a JWK a verification key, in a fixed order.
function materialOf(jwk: JWK): string {
  return JSON.stringify([jwk.kty, jwk.kid, jwk.alg, jwk.use, jwk.key_ops, jwk.crv, jwk.n, jwk.e, jwk.x, jwk.y]);
}

function fitsAlgorithm(jwk: JWK, alg: string): boolean {
  if (jwk.alg !== undefined) return jwk.alg === alg;
  if (alg.startsWith('RS') || alg.startsWith('PS')) return jwk.kty === 'RSA';
  const curve: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
  return jwk.kty === 'EC' && jwk.crv === curve[alg];
}

/** Keeps the public signature keys of a JWK Set; private or symmetric material is never used for verification. */
function parseKeySet(body: unknown): JWK[] {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { keys?: unknown }).keys)) {
    throw new Error('the response is not a JWK Set');
  }
  return ((body as { keys: unknown[] }).keys as JWK[]).filter(
    (k) =>
      typeof k === 'object' &&
      k !== null &&
      (k.kty === 'RSA' || k.kty === 'EC') &&
      (k.use === undefined || k.use === 'sig') &&
      k.d === undefined,
  );
}

function parseMaxAge(cacheControl: string | null): number | undefined {
  if (!cacheControl) return undefined;
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cacheControl)) return 0;
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
  return match?.[1] ? Number(match[1]) : undefined;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}
