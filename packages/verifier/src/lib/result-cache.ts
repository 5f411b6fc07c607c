// Internals shared by several folders: the bounded result cache of the verifiers and reviewers, and the
// sync-or-promise step (`maybe-promise.ts`).
import NodeCache from 'node-cache';
import type { Clock } from '../clock.js';
import { numberOption } from '../options.js';

/** Options of {@link ResultCache}. */
export interface ResultCacheOptions {
  /** Upper bound on accepted results; once full, new ones are not cached (correct, only slower) until entries expire. */
  maxEntries: number;
  /**
   * Upper bound on rejections, counted apart from accepted results: a flood of distinct bad tokens fills this bound
   * only, and valid callers stay cached. Default `maxEntries`.
   */
  maxRejections?: number;
  clock: Clock;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
}

// When a pool is full, expired entries are swept at most this often (a sweep walks the whole pool).
const SWEEP_INTERVAL_MS = 1000;
// node-cache's own purge only reclaims memory; freshness is judged against the injected clock on every read.
const PURGE_PERIOD_SECONDS = 30;

/**
 * A bounded cache of verification results, keyed by a token hash, whose entries never outlive the instant the caller
 * gives (at most the token's `exp`). Expiry is judged against the injected clock on every read. Accepted results and
 * rejections live in two node-cache pools with separate bounds (`useClones: false`: a hit is a lookup, no copy).
 */
export class ResultCache<T> {
  private readonly pools: { readonly accepted: NodeCache; readonly rejected: NodeCache };
  private readonly clock: Clock;
  // One sweep clock per pool: a flood that keeps the rejections' pool full must not take the sweeps that let a full
  // pool of expired successes make room for new callers.
  private readonly lastSweep = new Map<NodeCache, number>();

  constructor(options: ResultCacheOptions) {
    this.clock = options.clock;
    const pool = (maxKeys: number) =>
      new NodeCache({ useClones: false, checkperiod: PURGE_PERIOD_SECONDS, deleteOnExpire: true, maxKeys });
    this.pools = {
      accepted: pool(numberOption('maxEntries', options.maxEntries, 0, { integer: true })),
      rejected: pool(numberOption('maxRejections', options.maxRejections, options.maxEntries, { integer: true })),
    };
  }

  get(key: string): T | undefined {
    // The repeat caller's path: one lookup in the accepted pool.
    let pool = this.pools.accepted;
    let entry = pool.get<Entry<T>>(key);
    if (entry === undefined) {
      pool = this.pools.rejected;
      entry = pool.get<Entry<T>>(key);
      if (entry === undefined) return undefined;
    }
    if (this.clock() >= entry.expiresAt) {
      pool.del(key);
      return undefined;
    }
    return entry.value;
  }

  /**
   * Caches `value` until `expiresAt` (ms since the epoch), in the pool of rejections when `rejected`. Returns false
   * when it was not cached (already expired, or its pool is full).
   */
  set(key: string, value: T, expiresAt: number, rejected = false): boolean {
    const now = this.clock();
    const ttlMs = expiresAt - now;
    if (!(ttlMs > 0)) return false;
    this.delete(key);
    const pool = rejected ? this.pools.rejected : this.pools.accepted;
    if (!this.hasRoom(pool, now)) return false;
    try {
      return pool.set<Entry<T>>(key, { value, expiresAt }, Math.ceil(ttlMs / 1000));
    } catch {
      // ECACHEFULL: the bound holds; this result is simply recomputed next time.
      return false;
    }
  }

  delete(key: string): void {
    this.pools.accepted.del(key);
    this.pools.rejected.del(key);
  }

  /** Entries held, both pools (expired ones count until a read, a sweep or node-cache's purge removes them). */
  get size(): number {
    return this.pools.accepted.getStats().keys + this.pools.rejected.getStats().keys;
  }

  /** Rejections held (part of {@link size}). */
  get rejections(): number {
    return this.pools.rejected.getStats().keys;
  }

  /** Drops every entry for which `stale` is true (e.g. results verified with a key that is gone). */
  sweep(stale: (value: T) => boolean): void {
    for (const pool of [this.pools.accepted, this.pools.rejected]) {
      for (const key of pool.keys()) {
        const entry = pool.get<Entry<T>>(key);
        if (entry !== undefined && stale(entry.value)) pool.del(key);
      }
    }
  }

  /** Stops node-cache's purge timers (they are unref'd, so this is only needed for tidy tests). */
  close(): void {
    this.pools.accepted.close();
    this.pools.rejected.close();
  }

  private hasRoom(pool: NodeCache, now: number): boolean {
    const full = () => pool.getStats().keys >= (pool.options.maxKeys ?? Number.POSITIVE_INFINITY);
    if (!full()) return true;
    if (now - (this.lastSweep.get(pool) ?? Number.NEGATIVE_INFINITY) >= SWEEP_INTERVAL_MS) {
      this.lastSweep.set(pool, now);
      for (const key of pool.keys()) {
        const entry = pool.get<Entry<T>>(key);
        if (entry !== undefined && now >= entry.expiresAt) pool.del(key);
      }
    }
    return !full();
  }
}
