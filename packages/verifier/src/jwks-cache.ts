import { importJWK, type JWK } from 'jose';
import NodeCache from 'node-cache';
import { systemClock, type Clock } from './clock.js';
import { fetchDiscoveryDocument } from './discovery.js';
import { KubeAuthError } from './errors.js';
import type { EventListener } from './events.js';
import { readJson, type FetchLike } from './http.js';

/** A verification key, imported once per `kid` and algorithm. */
export type VerificationKey = Awaited<ReturnType<typeof importJWK>>;

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
  /** An unknown `kid` causes at most one refetch per this many seconds. Default 30. */
  cooldown?: number;
  /** After a failed fetch, no new attempt for this many seconds (requests meanwhile fail fast). Default 5. */
  retryAfterFailure?: number;
  /** How long past its freshness the last good key set is still used while refreshes fail. Default 3600. */
  maxStaleness?: number;
  /** Time-out of one discovery or key-set request, in milliseconds. Default 5000. */
  timeoutMs?: number;
  onEvent?: EventListener;
}

interface KeySet {
  byKid: Map<string, JWK>;
  all: JWK[];
  fetchedAt: number;
  freshUntil: number;
  staleUntil: number;
  imported: Map<string, Promise<VerificationKey>>;
}

const MAX_JWKS_BYTES = 256 * 1024;
const ENTRY = 'keyset';

/**
 * The key set of one issuer: fetched lazily, cached for the server's `max-age` (bounded), refreshed in the background
 * once stale, refetched at most once per cooldown for an unknown `kid` (concurrent refetches share one request), and
 * kept for `maxStaleness` when refreshes fail. Past that, lookups fail closed with `jwks_unavailable`.
 */
export class JwksCache {
  readonly issuer: string;
  private readonly options: Required<Omit<JwksCacheOptions, 'jwksUri' | 'onEvent'>> & Pick<JwksCacheOptions, 'onEvent'>;
  private jwksUri: string | undefined;
  // node-cache evicts the entry once it is past any use; freshness itself is judged against the injected clock.
  private readonly cache = new NodeCache({ useClones: false, checkperiod: 0 });
  private inflight: Promise<KeySet> | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastFailure: { at: number; error: KubeAuthError } | undefined;
  private fetchCount = 0;

  constructor(options: JwksCacheOptions) {
    this.issuer = options.issuer;
    this.jwksUri = options.jwksUri;
    this.options = {
      issuer: options.issuer,
      fetch: options.fetch,
      clock: options.clock ?? systemClock,
      defaultMaxAge: options.defaultMaxAge ?? 300,
      minMaxAge: options.minMaxAge ?? 10,
      maxMaxAge: options.maxMaxAge ?? 3600,
      cooldown: options.cooldown ?? 30,
      retryAfterFailure: options.retryAfterFailure ?? 5,
      maxStaleness: options.maxStaleness ?? 3600,
      timeoutMs: options.timeoutMs ?? 5000,
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
   * refetch that the cooldown allows, `algorithm_not_allowed` when the key is not for `alg`, and `jwks_unavailable`
   * when no usable key set can be had.
   */
  async getKey(kid: string | undefined, alg: string): Promise<VerificationKey> {
    const now = this.options.clock();
    let set = this.usableSet(now);
    if (!set) {
      set = await this.fetchCoalesced();
    } else if (now >= set.freshUntil) {
      this.options.onEvent?.({ type: 'jwks_stale', issuer: this.issuer, ageSeconds: (now - set.fetchedAt) / 1000 });
      // Serve the stale set now; refresh behind the request so that a slow key server does not slow requests.
      if (this.mayAttempt(now, this.options.retryAfterFailure)) this.fetchCoalesced().catch(() => {});
    }

    let jwk = findKey(set, kid, alg);
    if (!jwk) {
      if (this.inflight) {
        set = await this.inflight;
      } else if (this.mayAttempt(now, this.options.cooldown)) {
        set = await this.fetchCoalesced();
      } else {
        throw new KubeAuthError('key_not_found', `no key ${kid ?? '(no kid)'} for ${alg} in the key set of ${this.issuer}`);
      }
      jwk = findKey(set, kid, alg);
      if (!jwk) throw new KubeAuthError('key_not_found', `no key ${kid ?? '(no kid)'} for ${alg} in the key set of ${this.issuer}`);
    }
    if (jwk.alg !== undefined && jwk.alg !== alg) {
      // Kubernetes publishes the algorithm of each key; a token must use that one (no cross-algorithm use of a key).
      throw new KubeAuthError('algorithm_not_allowed', `key ${kid ?? ''} is for ${jwk.alg}, the token uses ${alg}`);
    }
    const id = `${jwk.kid ?? ''}\u0000${alg}`;
    let key = set.imported.get(id);
    if (!key) {
      key = importJWK(jwk, alg) as Promise<VerificationKey>;
      set.imported.set(id, key);
      key.catch(() => set.imported.delete(id));
    }
    try {
      return await key;
    } catch (cause) {
      throw new KubeAuthError('algorithm_not_allowed', `key ${kid ?? ''} cannot verify ${alg}`, { cause });
    }
  }

  private usableSet(now: number): KeySet | undefined {
    const set = this.cache.get<KeySet>(ENTRY);
    return set && now < set.staleUntil ? set : undefined;
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
        const discovered = (await fetchDiscoveryDocument(this.issuer, this.options.fetch, this.options.timeoutMs)).jwks_uri;
        // The fetch carries our own ServiceAccount token: follow a discovered jwks_uri only on the issuer's origin.
        // Another address (e.g. the node IP that kube-apiserver advertises) must be configured explicitly.
        if (new URL(discovered).origin !== new URL(this.issuer).origin) {
          throw new KubeAuthError(
            'jwks_unavailable',
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
      const set: KeySet = {
        byKid: new Map(keys.filter((k) => k.kid !== undefined).map((k) => [k.kid as string, k])),
        all: keys,
        fetchedAt: now,
        freshUntil: now + maxAge * 1000,
        staleUntil: now + (maxAge + this.options.maxStaleness) * 1000,
        imported: new Map(),
      };
      this.cache.set(ENTRY, set, maxAge + this.options.maxStaleness);
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
          : new KubeAuthError('jwks_unavailable', `cannot fetch the key set of ${this.issuer}: ${describe(cause)}`, { cause });
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

function findKey(set: KeySet, kid: string | undefined, alg: string): JWK | undefined {
  if (kid !== undefined) return set.byKid.get(kid);
  // Without a kid, a key is chosen only when exactly one could fit the algorithm (as jose does).
  const candidates = set.all.filter((k) => fitsAlgorithm(k, alg));
  return candidates.length === 1 ? candidates[0] : undefined;
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
