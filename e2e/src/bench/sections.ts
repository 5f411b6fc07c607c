import { randomBytes } from 'node:crypto';
import type { Fixture } from './fixture.js';
import { primeGrpc, runGrpcLoad } from './grpc-load.js';
import { combine, runLoad, type LoadResult } from './load.js';
import type { AuthConfig, ServerStats, Transport } from './protocol.js';
import { ServerProcess } from './server-process.js';
import type { BenchSettings } from './settings.js';
import { payloadOf } from '../support/jwt.js';
import { generateBenchKey, KeyServer, serviceAccountClaims, signJwt } from './tokens.js';

export type Log = (message: string) => void;

/** Sends each token once and checks the answer, so that a misconfiguration fails loudly before any measurement. */
async function prime(url: string, tokens: readonly string[], expected: number, reason?: string): Promise<void> {
  for (const token of tokens) {
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
    const body = await response.text();
    if (response.status !== expected || (reason !== undefined && !body.includes(`"reason":"${reason}"`))) {
      throw new Error(`priming ${url}: expected ${expected}${reason ? ` ${reason}` : ''}, got ${response.status} ${body.slice(0, 200)}`);
    }
  }
}

export async function withServer<T>(auth: AuthConfig, work: (server: ServerProcess) => Promise<T>, transport: Transport = 'express'): Promise<T> {
  const server = await ServerProcess.start(auth, undefined, undefined, transport);
  try {
    return await work(server);
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Throughput and latency over HTTP

export interface HttpConfig {
  id: string;
  label: string;
  kind: 'baseline' | 'control' | 'ours' | 'peer';
  auth: AuthConfig;
  tokens: readonly string[];
  /** Default express. */
  transport?: Transport;
}

export interface HttpRow extends HttpConfig {
  /** All passes together. */
  load: LoadResult;
  /** req/s of each pass. */
  passes: number[];
  /**
   * CPU time the server process spent per response (all its threads), in µs: much less sensitive than req/s to other
   * work on the machine, since time waiting for a core is not counted.
   */
  cpuMicrosPerRequest: number;
  /** API-server work during the measured runs. */
  tokenReviews: number;
  jwksFetches: number;
}

/**
 * Runs every configuration in `settings.passes` passes, every other pass in reverse order, so that drift over the run
 * (other work on the machine) is shared out instead of landing on whichever configuration ran last.
 */
export async function httpSection(configs: HttpConfig[], settings: BenchSettings, log: Log): Promise<HttpRow[]> {
  type Runs = { loads: LoadResult[]; tokenReviews: number; jwksFetches: number; cpuMicros: number };
  const runs = new Map<string, Runs>(configs.map((c) => [c.id, { loads: [], tokenReviews: 0, jwksFetches: 0, cpuMicros: 0 }]));
  const seconds = settings.seconds / settings.passes;
  for (let pass = 0; pass < settings.passes; pass++) {
    log(`  pass ${pass + 1}/${settings.passes}, ${seconds} s per configuration`);
    for (const config of pass % 2 === 0 ? configs : [...configs].reverse()) {
      const entry = runs.get(config.id) as Runs;
      await withServer(config.auth, async (server) => {
        const grpc = config.transport === 'grpc';
        const address = `127.0.0.1:${server.port}`;
        const load_ = (durationSeconds: number) =>
          grpc
            ? runGrpcLoad({ address, tokens: config.tokens, connections: settings.connections, durationSeconds })
            : runLoad({ url: server.url, tokens: config.tokens, connections: settings.connections, durationSeconds });
        if (grpc) await primeGrpc(address, config.tokens);
        else await prime(server.url, config.tokens, 200);
        if (settings.warmupSeconds > 0) await load_(settings.warmupSeconds);
        const before = await server.stats();
        const load = await load_(seconds);
        const after = await server.stats();
        entry.loads.push(load);
        entry.tokenReviews += after.tokenReviews - before.tokenReviews;
        entry.jwksFetches += after.jwksFetches - before.jwksFetches;
        entry.cpuMicros += after.cpuMicros - before.cpuMicros;
        log(
          `    ${config.label.padEnd(42)} ${fmt(load.rps, 0).padStart(7)} req/s  p50 ${fmt(load.latency.p50, 2)} ms  p99 ${fmt(load.latency.p99, 2)} ms` +
            `  ${fmt((after.cpuMicros - before.cpuMicros) / load.responses, 1)} µs CPU/req  non-200 ${load.responses - load.ok}  errors ${load.errors}`,
        );
      }, config.transport);
    }
  }
  return configs.map((config) => {
    const entry = runs.get(config.id) as Runs;
    return {
      ...config,
      load: combine(entry.loads),
      passes: entry.loads.map((l) => l.rps),
      cpuMicrosPerRequest: entry.cpuMicros / entry.loads.reduce((sum, l) => sum + l.responses, 0),
      tokenReviews: entry.tokenReviews,
      jwksFetches: entry.jwksFetches,
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 3. API-server load at a fixed request rate

export interface LoadPhase {
  load: LoadResult;
  tokenReviews: number;
  jwksFetches: number;
}

export interface ApiLoadRow {
  mode: 'local' | 'tokenreview';
  callers: number;
  cold: LoadPhase;
  warm: LoadPhase;
  /** Seconds from the first request of the cold phase to the end of the warm phase. */
  windowSeconds: number;
  ttlSeconds: number;
  /** Most TokenReviews allowed in the window: one per distinct token per started TTL period. */
  reviewBound: number;
}

export async function apiLoadSection(fixture: Fixture, settings: BenchSettings, log: Log): Promise<ApiLoadRow[]> {
  const rows: ApiLoadRow[] = [];
  const ttlSeconds = 10;
  for (const mode of ['local', 'tokenreview'] as const) {
    for (const callers of [1, 10, 100]) {
      const tokens = fixture.callerTokens.slice(0, callers);
      const auth: AuthConfig =
        mode === 'local'
          ? {
              kind: 'local',
              issuer: fixture.issuer,
              access: fixture.access,
              cacheTtlSeconds: ttlSeconds,
              cacheMaxEntries: 10_000,
              jwksCooldownSeconds: 30,
              // Cold: the key set is fetched by the first request, as after a restart without readiness warm-up.
              warm: false,
            }
          : { kind: 'tokenreview', access: fixture.access, cacheTtlSeconds: ttlSeconds, cacheMaxEntries: 10_000 };
      rows.push(
        await withServer(auth, async (server) => {
          const phase = async (): Promise<LoadPhase> => {
            const before = await server.stats();
            const load = await runLoad({
              url: server.url,
              tokens,
              connections: settings.connections,
              durationSeconds: settings.loadSeconds,
              overallRate: settings.loadRate,
            });
            const after = await server.stats();
            return { load, tokenReviews: after.tokenReviews - before.tokenReviews, jwksFetches: after.jwksFetches - before.jwksFetches };
          };
          const startedAt = performance.now();
          const cold = await phase();
          const warm = await phase();
          const windowSeconds = (performance.now() - startedAt) / 1000;
          const reviewBound = callers * (Math.floor(windowSeconds / ttlSeconds) + 1);
          log(
            `  ${mode.padEnd(11)} ${String(callers).padStart(3)} callers: cold ${fmt(cold.load.rps, 0)} req/s, ${cold.tokenReviews} reviews, ` +
              `${cold.jwksFetches} JWKS fetches; warm ${fmt(warm.load.rps, 0)} req/s, ${warm.tokenReviews} reviews, ${warm.jwksFetches} JWKS fetches`,
          );
          return { mode, callers, cold, warm, windowSeconds, ttlSeconds, reviewBound };
        }),
      );
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------
// 3b. Random-kid flood

export interface FloodResult {
  cooldownSeconds: number;
  distinctKids: number;
  flood: LoadResult;
  /** A valid caller at a steady rate during the flood. */
  legit: LoadResult;
  legitRate: number;
  /** JWKS fetches during the flood, and their times (s) from its start. */
  fetches: number;
  fetchTimes: number[];
  /** Smallest time between two fetches (s); Infinity with fewer than two. */
  minGapSeconds: number;
  /** Most fetches allowed: one per started cooldown period. */
  bound: number;
}

export async function floodSection(fixture: Fixture, settings: BenchSettings, log: Log): Promise<FloodResult> {
  const real = fixture.callerTokens[0] as string;
  const claims = payloadOf(real);
  // Valid in every way (issuer, audience, times, pod binding) except that no key with its kid exists.
  const throwaway = generateBenchKey('RS256');
  const distinctKids = 500;
  const floodTokens = Array.from({ length: distinctKids }, () => signJwt(throwaway, { ...claims, jti: randomBytes(16).toString('hex') }, randomBytes(20).toString('base64url')));
  const auth: AuthConfig = {
    kind: 'local',
    issuer: fixture.issuer,
    access: fixture.access,
    cacheTtlSeconds: 10,
    cacheMaxEntries: 10_000,
    jwksCooldownSeconds: settings.cooldownSeconds,
    warm: true,
    recordFetchTimes: true,
  };
  return withServer(auth, async (server) => {
    await prime(server.url, [real], 200);
    // A sample of the flood, before it starts: refused for the reason the flood is about.
    await prime(server.url, floodTokens.slice(0, 3), 401, 'key_not_found');
    const before = await server.stats();
    const floodStart = before.uptimeMs;
    const legitRate = 100;
    const [flood, legit] = await Promise.all([
      runLoad({ url: server.url, tokens: floodTokens, connections: settings.connections, durationSeconds: settings.floodSeconds }),
      runLoad({ url: server.url, tokens: [real], connections: 2, durationSeconds: settings.floodSeconds, overallRate: legitRate }),
    ]);
    const after = await server.stats();
    const fetchTimes = after.jwksFetchTimes.filter((t) => t >= floodStart).map((t) => (t - floodStart) / 1000);
    let minGapSeconds = Number.POSITIVE_INFINITY;
    for (let i = 1; i < fetchTimes.length; i++) minGapSeconds = Math.min(minGapSeconds, (fetchTimes[i] as number) - (fetchTimes[i - 1] as number));
    const bound = Math.ceil(flood.seconds / settings.cooldownSeconds);
    const fetches = after.jwksFetches - before.jwksFetches;
    log(
      `  flood ${fmt(flood.rps, 0)} req/s (${flood.status['401'] ?? 0} × 401), ${fetches} JWKS fetches in ${fmt(flood.seconds, 1)} s ` +
        `(cooldown ${settings.cooldownSeconds} s, bound ${bound}); valid caller: ${legit.ok}/${legit.responses} × 200, p99 ${fmt(legit.latency.p99, 2)} ms`,
    );
    return { cooldownSeconds: settings.cooldownSeconds, distinctKids, flood, legit, legitRate, fetches, fetchTimes, minGapSeconds, bound };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Memory after many distinct tokens

export interface MemoryRow {
  tokens: number;
  verifiedCacheSize: number;
  tokenReviewCacheSize: number;
  /** Largest sizes seen while the chunk ran (sampled every 200 ms). */
  peakVerifiedCacheSize: number;
  peakTokenReviewCacheSize: number;
  rss: number;
  heapUsed: number;
  peakRss: number;
  rps: number;
  non200: number;
}

export interface MemoryResult {
  bound: number;
  ttlSeconds: number;
  baseline: ServerStats;
  rows: MemoryRow[];
  tokenReviews: number;
  keyServerRequests: number;
  gc: boolean;
}

export async function memorySection(fixture: Fixture, settings: BenchSettings, log: Log): Promise<MemoryResult> {
  // 100,000 TokenRequests would take far too long: these tokens are signed here (ES256, claims shaped like the API
  // server's) by a key served from a loopback fake key server; the real API server plays no part in this run.
  const key = generateBenchKey('ES256');
  const keyServer = await KeyServer.start({ keys: [key.jwk] });
  const issuer = 'https://memory-bench.kube-service-auth.invalid';
  const auth: AuthConfig = {
    kind: 'local',
    issuer,
    jwksUri: keyServer.url,
    cacheTtlSeconds: settings.memoryCacheTtlSeconds,
    cacheMaxEntries: settings.cacheMaxEntries,
    jwksCooldownSeconds: 30,
    warm: true,
    stubRevocationCheck: true,
  };
  try {
    return await withServer(auth, async (server) => {
      const first = signJwt(key, serviceAccountClaims(issuer, 0, fixture.apiServiceAccountUid));
      await prime(server.url, [first], 200);
      const baseline = await server.stats(true);
      const rows: MemoryRow[] = [];
      const chunk = Math.min(10_000, settings.memoryTokens);
      let sent = 0;
      while (sent < settings.memoryTokens) {
        const n = Math.min(chunk, settings.memoryTokens - sent);
        const tokens = Array.from({ length: n }, (_, i) => signJwt(key, serviceAccountClaims(issuer, sent + i + 1, fixture.apiServiceAccountUid)));
        let next = 0;
        let peakVerified = 0;
        let peakReview = 0;
        let peakRss = 0;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            const s = await server.stats();
            peakVerified = Math.max(peakVerified, s.verifiedCacheSize ?? 0);
            peakReview = Math.max(peakReview, s.tokenReviewCacheSize ?? 0);
            peakRss = Math.max(peakRss, s.memory.rss);
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        })();
        let load: LoadResult;
        try {
          load = await runLoad({
            url: server.url,
            tokens: () => tokens[next++ % tokens.length] as string,
            connections: settings.connections,
            amount: n,
            maxSeconds: 120,
          });
        } finally {
          sampling = false;
          await sampler;
        }
        sent += n;
        const s = await server.stats(true);
        const row: MemoryRow = {
          tokens: sent,
          verifiedCacheSize: s.verifiedCacheSize ?? 0,
          tokenReviewCacheSize: s.tokenReviewCacheSize ?? 0,
          peakVerifiedCacheSize: Math.max(peakVerified, s.verifiedCacheSize ?? 0),
          peakTokenReviewCacheSize: Math.max(peakReview, s.tokenReviewCacheSize ?? 0),
          rss: s.memory.rss,
          heapUsed: s.memory.heapUsed,
          peakRss: Math.max(peakRss, s.memory.rss),
          rps: load.rps,
          non200: load.responses - load.ok,
        };
        rows.push(row);
        log(
          `  ${String(sent).padStart(7)} tokens: caches ${row.verifiedCacheSize}/${row.tokenReviewCacheSize} (peak ${row.peakVerifiedCacheSize}/${row.peakTokenReviewCacheSize}, bound ${settings.cacheMaxEntries}), ` +
            `RSS ${mb(row.rss)} MB, heap ${mb(row.heapUsed)} MB, ${fmt(load.rps, 0)} req/s, non-200 ${row.non200}`,
        );
      }
      const end = await server.stats();
      return {
        bound: settings.cacheMaxEntries,
        ttlSeconds: settings.memoryCacheTtlSeconds,
        baseline,
        rows,
        tokenReviews: end.tokenReviews,
        keyServerRequests: keyServer.requests,
        gc: baseline.gcRan,
      };
    });
  } finally {
    await keyServer.close();
  }
}

export const fmt = (value: number, digits: number): string =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–';
export const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
