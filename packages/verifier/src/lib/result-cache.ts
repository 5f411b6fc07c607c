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
// Expired entries are also reclaimed this often, whether or not a pool is full: memory only, since freshness is judged
// against the injected clock on every read.
const PURGE_PERIOD_MS = 30_000;

/**
 * A bounded cache of verification results, keyed by a token hash, whose entries never outlive the instant the caller
 * gives (at most the token's `exp`). Expiry is judged against the injected clock on every read. Accepted results and
 * rejections live in two node-cache pools with separate bounds (`useClones: false`: a hit is a lookup, no copy).
 * Entries are stored without a node-cache TTL: node-cache would read the wall clock on every hit (~0.1 µs on these
 * VMs, a tenth of a repeat caller's whole check), and the expiry it would judge is ours to judge anyway.
 */
export class ResultCache<T> {
  private readonly pools: { readonly accepted: NodeCache; readonly rejected: NodeCache };
  private readonly clock: Clock;
  // One sweep clock per pool: a flood that keeps the rejections' pool full must not take the sweeps that let a full
  // pool of expired successes make room for new callers.
  private readonly lastSweep = new Map<NodeCache, number>();

  constructor(options: ResultCacheOptions) {
    this.clock = options.clock;
    const pool = (maxKeys: number) => new NodeCache({ useClones: false, stdTTL: 0, checkperiod: 0, maxKeys });
    this.pools = {
      accepted: pool(numberOption('maxEntries', options.maxEntries, 0, { integer: true })),
      rejected: pool(numberOption('maxRejections', options.maxRejections, options.maxEntries, { integer: true })),
    };
    this.purgeTimer = setInterval(() => this.purgeExpired(), PURGE_PERIOD_MS).unref();
  }

  private readonly purgeTimer: NodeJS.Timeout;

  /** The entry for `key` unless it has expired at `now` (the caller's reading of the clock, taken once per request). */
  get(key: string, now: number = this.clock()): T | undefined {
    // The repeat caller's path: one lookup in the accepted pool.
    let pool = this.pools.accepted;
    let entry = pool.get<Entry<T>>(key);
    if (entry === undefined) {
      pool = this.pools.rejected;
      entry = pool.get<Entry<T>>(key);
      if (entry === undefined) return undefined;
    }
    if (now >= entry.expiresAt) {
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
      return pool.set<Entry<T>>(key, { value, expiresAt }, 0);
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
    clearInterval(this.purgeTimer);
    this.pools.accepted.close();
    this.pools.rejected.close();
  }

  /** Drops every expired entry of both pools (reclaims memory; reads already ignore them). */
  purgeExpired(now: number = this.clock()): void {
    for (const pool of [this.pools.accepted, this.pools.rejected]) this.dropExpired(pool, now);
  }

  private dropExpired(pool: NodeCache, now: number): void {
    for (const key of pool.keys()) {
      const entry = pool.get<Entry<T>>(key);
      if (entry !== undefined && now >= entry.expiresAt) pool.del(key);
    }
  }

  private hasRoom(pool: NodeCache, now: number): boolean {
    const full = () => pool.getStats().keys >= (pool.options.maxKeys ?? Number.POSITIVE_INFINITY);
    if (!full()) return true;
    if (now - (this.lastSweep.get(pool) ?? Number.NEGATIVE_INFINITY) >= SWEEP_INTERVAL_MS) {
      this.lastSweep.set(pool, now);
      this.dropExpired(pool, now);
    }
    return !full();
  }
}
