import NodeCache from 'node-cache';
import type { Clock } from './clock.js';

/** Options of {@link ResultCache}. */
export interface ResultCacheOptions {
  /** Upper bound on entries; once full, new results are not cached (correct, only slower) until entries expire. */
  maxEntries: number;
  clock: Clock;
}

/**
 * A bounded cache of verification results, keyed by a token hash, whose entries never outlive the instant the caller
 * gives (at most the token's `exp`). The expiry is judged against the injected clock on every read; node-cache's own
 * TTL only reclaims memory.
 */
export class ResultCache<T> {
  private readonly cache: NodeCache;
  private readonly clock: Clock;

  constructor(options: ResultCacheOptions) {
    this.clock = options.clock;
    this.cache = new NodeCache({ useClones: false, checkperiod: 30, maxKeys: options.maxEntries, deleteOnExpire: true });
  }

  get(key: string): T | undefined {
    const entry = this.cache.get<{ value: T; expiresAt: number }>(key);
    if (!entry) return undefined;
    if (this.clock() >= entry.expiresAt) {
      this.cache.del(key);
      return undefined;
    }
    return entry.value;
  }

  /** Caches `value` until `expiresAt` (ms since the epoch). Returns false when it was not cached (expired or full). */
  set(key: string, value: T, expiresAt: number): boolean {
    const ttlMs = expiresAt - this.clock();
    if (ttlMs <= 0) return false;
    try {
      return this.cache.set(key, { value, expiresAt }, Math.ceil(ttlMs / 1000));
    } catch {
      // ECACHEFULL: the bound holds; this result is simply recomputed next time.
      return false;
    }
  }

  delete(key: string): void {
    this.cache.del(key);
  }

  /** Entries held (expired ones count until node-cache's purge or a read removes them). */
  get size(): number {
    return this.cache.getStats().keys;
  }

  /** Stops node-cache's purge timer (it is unref'd, so this is only needed for tidy tests). */
  close(): void {
    this.cache.close();
  }
}
