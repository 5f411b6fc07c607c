import type { Clock } from './clock.js';

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
  rejected: boolean;
}

// When a pool is full, expired entries are swept at most this often (a sweep walks the whole map).
const SWEEP_INTERVAL_MS = 1000;

/**
 * A bounded cache of verification results, keyed by a token hash, whose entries never outlive the instant the caller
 * gives (at most the token's `exp`). Expiry is judged against the injected clock on every read. Accepted results and
 * rejections have separate bounds. A plain Map: a hit is one lookup and one comparison, with no allocation.
 */
export class ResultCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly clock: Clock;
  private readonly maxEntries: number;
  private readonly maxRejections: number;
  private accepted = 0;
  private rejected = 0;
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(options: ResultCacheOptions) {
    this.clock = options.clock;
    this.maxEntries = bound(options.maxEntries, 'maxEntries');
    this.maxRejections = bound(options.maxRejections ?? options.maxEntries, 'maxRejections');
  }

  get(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.clock() >= entry.expiresAt) {
      this.remove(key, entry);
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
    if (!(expiresAt > now)) return false;
    const previous = this.entries.get(key);
    if (previous) this.remove(key, previous);
    if (!this.hasRoom(rejected, now)) return false;
    this.entries.set(key, { value, expiresAt, rejected });
    if (rejected) this.rejected++;
    else this.accepted++;
    return true;
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry) this.remove(key, entry);
  }

  /** Entries held, both pools (expired ones count until a read or a sweep removes them). */
  get size(): number {
    return this.entries.size;
  }

  /** Rejections held (part of {@link size}). */
  get rejections(): number {
    return this.rejected;
  }

  /** Drops every entry for which `stale` is true (e.g. results verified with a key that is gone). */
  sweep(stale: (value: T) => boolean): void {
    for (const [key, entry] of this.entries) if (stale(entry.value)) this.remove(key, entry);
  }

  private hasRoom(rejected: boolean, now: number): boolean {
    const full = () => (rejected ? this.rejected >= this.maxRejections : this.accepted >= this.maxEntries);
    if (!full()) return true;
    if (now - this.lastSweep >= SWEEP_INTERVAL_MS) {
      this.lastSweep = now;
      for (const [key, entry] of this.entries) if (now >= entry.expiresAt) this.remove(key, entry);
    }
    return !full();
  }

  private remove(key: string, entry: Entry<T>): void {
    this.entries.delete(key);
    if (entry.rejected) this.rejected--;
    else this.accepted--;
  }
}

function bound(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}
