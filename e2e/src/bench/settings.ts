/** Durations and sizes of `pnpm bench`, each overridable by an environment variable. */
export interface BenchSettings {
  /** Measured seconds of each HTTP configuration (throughput and latency), split over `passes`. */
  seconds: number;
  /** Passes over all HTTP configurations, every other one in reverse order. */
  passes: number;
  /** HTTP comparisons: each configuration at the same time as its baseline, on one core (see httpSection). */
  paired: boolean;
  /** Unmeasured seconds before each, for JIT, connections and caches. */
  warmupSeconds: number;
  connections: number;
  /** Seconds of each cold and warm phase of the API-server load runs. */
  loadSeconds: number;
  /** Target request rate of the API-server load runs. */
  loadRate: number;
  /** Seconds of the random-`kid` flood. */
  floodSeconds: number;
  /** JWKS refetch cooldown during the flood (the product default is 30 s). */
  cooldownSeconds: number;
  /** Iterations per round of each raw verification path, and rounds. */
  rawIterations: number;
  rawRounds: number;
  /** Pairs of chunks (floor, path) for the paths judged against a floor, and the CPU ms of one chunk. */
  rawPairs: number;
  rawChunkMs: number;
  /** Distinct tokens sent through the caches in the memory run, and the configured bound of each cache. */
  memoryTokens: number;
  cacheMaxEntries: number;
  /** Verified-token cache TTL of the memory run: long, so that only the bound (not expiry) limits memory. */
  memoryCacheTtlSeconds: number;
  /** The whole run is aborted (and everything cleaned up) after this many seconds. */
  maxSeconds: number;
  /** Where benchmarks.md and benchmarks.svg are written; `none` to write nothing. */
  docsDir: string | undefined;
  /** `BENCH_ONLY=raw`: run the raw verification section alone (prints its rows, writes no docs). */
  only: 'raw' | undefined;
}

function number(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max)
    throw new Error(`${name}: expected a number from ${min} to ${max}, got "${raw}"`);
  return value;
}

function section(name: string): 'raw' | undefined {
  const raw = process.env[name]?.trim();
  if (!raw) return undefined;
  if (raw !== 'raw') throw new Error(`${name}: the only section that runs alone is "raw", got "${raw}"`);
  return raw;
}

export function loadSettings(defaultDocsDir: string): BenchSettings {
  const docs = process.env.BENCH_DOCS_DIR?.trim();
  return {
    seconds: number('BENCH_SECONDS', 8, 1, 120),
    passes: Math.round(number('BENCH_PASSES', 8, 1, 40)),
    paired: process.env.BENCH_PAIRED?.trim() !== '0',
    warmupSeconds: number('BENCH_WARMUP_SECONDS', 2, 0, 30),
    connections: Math.round(number('BENCH_CONNECTIONS', 10, 1, 1000)),
    loadSeconds: number('BENCH_LOAD_SECONDS', 4, 1, 60),
    loadRate: Math.round(number('BENCH_RATE', 1000, 10, 100_000)),
    floodSeconds: number('BENCH_FLOOD_SECONDS', 8, 1, 120),
    cooldownSeconds: Math.round(number('BENCH_COOLDOWN_SECONDS', 2, 1, 60)),
    rawIterations: Math.round(number('BENCH_RAW_ITERATIONS', 5000, 100, 1_000_000)),
    rawRounds: Math.round(number('BENCH_RAW_ROUNDS', 5, 1, 20)),
    rawPairs: Math.round(number('BENCH_RAW_PAIRS', 61, 1, 1001)),
    rawChunkMs: number('BENCH_RAW_CHUNK_MS', 10, 1, 1000),
    memoryTokens: Math.round(number('BENCH_MEMORY_TOKENS', 100_000, 1000, 1_000_000)),
    cacheMaxEntries: Math.round(number('BENCH_CACHE_MAX_ENTRIES', 10_000, 1, 1_000_000)),
    memoryCacheTtlSeconds: Math.round(number('BENCH_MEMORY_TTL_SECONDS', 600, 1, 3000)),
    maxSeconds: number('BENCH_MAX_SECONDS', 1500, 30, 7200),
    docsDir: docs === 'none' ? undefined : docs || defaultDocsDir,
    only: section('BENCH_ONLY'),
  };
}
