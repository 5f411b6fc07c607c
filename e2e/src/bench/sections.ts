import { randomBytes } from 'node:crypto';
import type { Fixture } from './fixture.js';
import { primeGrpc, runGrpcLoad } from './grpc-load.js';
import { combine, runLoad, type LoadResult } from './load.js';
import { MIDDLEWARE_BUCKET_MICROS, type AuthConfig, type ServerStats, type Transport } from './protocol.js';
import { pin, planPinning } from './pinning.js';
import { ServerProcess } from './server-process.js';
import type { BenchSettings } from './settings.js';
import { payloadOf } from '../support/jwt.js';
import { generateBenchKey, KeyServer, serviceAccountClaims, signJwt } from './tokens.js';

export type Log = (message: string) => void;

/** Sends each token once and checks the answer, so that a misconfiguration fails loudly before any measurement. */
async function prime(url: string, tokens: readonly string[], expected: number, reason?: string): Promise<void> {
  for (const token of tokens) {
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(15_000),
    });
    const body = await response.text();
    if (response.status !== expected || (reason !== undefined && !body.includes(`"reason":"${reason}"`))) {
      throw new Error(
        `priming ${url}: expected ${expected}${reason ? ` ${reason}` : ''}, got ${response.status} ${body.slice(0, 200)}`,
      );
    }
  }
}

export async function withServer<T>(
  auth: AuthConfig,
  work: (server: ServerProcess) => Promise<T>,
  transport: Transport = 'express',
): Promise<T> {
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
  /** The configuration this one is compared with, round by round. Default: the first baseline of its transport. */
  baseline?: string;
}

/** A figure measured once per round: the median of the rounds, the lowest and highest, and every value. */
export interface Spread {
  median: number;
  low: number;
  high: number;
  values: number[];
}

export interface HttpRow extends HttpConfig {
  /** All rounds together. */
  load: LoadResult;
  /** req/s of each round. */
  passes: number[];
  /** Server CPU µs per response of each round. */
  cpuPerPass: number[];
  /**
   * CPU time the server process spent per response (all its threads), in µs, over all rounds: much less sensitive
   * than req/s to other work on the machine, since time waiting for a core is not counted.
   */
  cpuMicrosPerRequest: number;
  /** The configuration compared with (absent for the baseline itself). */
  baselineId?: string;
  /** req/s of this configuration over its baseline's, per round (the two ran one after the other). */
  ratio?: Spread;
  /** Server CPU µs per request added over the baseline, per round. */
  cpuAdded?: Spread;
  /** `timeMiddleware`: µs per request inside the middleware up to its next(), in situ under load: mean, and median. */
  middlewareMicros?: number;
  middlewareMedianMicros?: number;
  /** API-server work during the measured runs. */
  tokenReviews: number;
  jwksFetches: number;
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const median =
    n === 0
      ? NaN
      : n % 2
        ? (sorted[(n - 1) / 2] as number)
        : ((sorted[n / 2 - 1] as number) + (sorted[n / 2] as number)) / 2;
  return { median, low: sorted[0] ?? NaN, high: sorted[n - 1] ?? NaN, values: [...values] };
}

/**
 * Median, quartiles and extremes of `values`: each the value at that fraction of the sorted list (the lower one when
 * it falls between two), as the paired measurements report them.
 */
export function quartiles(values: readonly number[]): {
  median: number;
  q1: number;
  q3: number;
  low: number;
  high: number;
} {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (x: number) => sorted[Math.min(sorted.length - 1, Math.floor(x * sorted.length))] as number;
  return {
    median: at(0.5),
    q1: at(0.25),
    q3: at(0.75),
    low: sorted[0] as number,
    high: sorted[sorted.length - 1] as number,
  };
}

/** How the HTTP section was measured, for the report. */
export interface HttpMethod {
  rounds: number;
  secondsPerRound: number;
  warmupSeconds: number;
  /**
   * `paired`: each configuration runs at the same time as its baseline, both servers on the same core, so that
   * whatever else the machine does hits both alike; `sequential`: one configuration at a time.
   */
  mode: 'paired' | 'sequential';
  /** CPUs of the server children and of the load generator, when pinned. */
  pinning?: { server: string; load: string };
}

/** One measured run of one server. */
interface Window {
  load: LoadResult;
  cpuMicros: number;
  tokenReviews: number;
  jwksFetches: number;
  middlewareMicros: number;
  middlewareCalls: number;
  middlewareHistogram: number[];
}

/**
 * Every configuration gets its own server process, started once, primed (one request per token, answer checked) and
 * warmed up. Then `settings.passes` short rounds go over the configurations, every other round in reverse order. In
 * `paired` mode (the default; `BENCH_PAIRED=0` for sequential) each configuration runs **at the same time as its
 * baseline**, both servers pinned to the same core and each driven by its own connections: whatever else the machine
 * does in that window hits both alike, so their ratio of throughput is the inverse ratio of their cost per request
 * on that core, and their CPU per request is read over the same window. The server's CPU time is read over IPC right
 * before and right after each measured run, so warm-up and priming are not in it. Ratios and CPU deltas are taken per
 * window, and reported as the median with the lowest and highest window: an A/A configuration (the baseline measured
 * again as a second server) gives the method's own noise floor. Servers are pinned to one core and the load generator
 * to another when {@link planPinning} allows.
 */
export async function httpSection(
  configs: HttpConfig[],
  settings: BenchSettings,
  log: Log,
): Promise<{ rows: HttpRow[]; method: HttpMethod }> {
  const windows = new Map<string, Window[]>(configs.map((c) => [c.id, []]));
  // Per configuration and window: its baseline's figures in the same window (paired) or the same round (sequential).
  const against = new Map<string, Array<{ rps: number; cpu: number }>>(configs.map((c) => [c.id, []]));
  const seconds = settings.seconds / settings.passes;
  const mode = settings.paired ? 'paired' : 'sequential';
  const pinning = planPinning();
  const servers = new Map<string, ServerProcess>();
  const baseOf = (config: HttpConfig): HttpConfig | undefined => {
    const base = config.baseline
      ? configs.find((c) => c.id === config.baseline)
      : configs.find((c) => c.kind === 'baseline' && (c.transport ?? 'express') === (config.transport ?? 'express'));
    return base === config ? undefined : base;
  };
  const loadOf = (config: HttpConfig, durationSeconds: number) => {
    const server = servers.get(config.id) as ServerProcess;
    const address = `127.0.0.1:${server.port}`;
    return config.transport === 'grpc'
      ? runGrpcLoad({ address, tokens: config.tokens, connections: settings.connections, durationSeconds })
      : runLoad({ url: server.url, tokens: config.tokens, connections: settings.connections, durationSeconds });
  };
  /** Runs the configurations at the same time, each on its own server, and reads each server's counters around it. */
  const measure = async (together: HttpConfig[]): Promise<Window[]> => {
    const list = together.map((c) => servers.get(c.id) as ServerProcess);
    const before = await Promise.all(list.map((s) => s.stats()));
    const loads = await Promise.all(together.map((c) => loadOf(c, seconds)));
    const after = await Promise.all(list.map((s) => s.stats()));
    return together.map((_, i) => {
      const b = before[i] as ServerStats;
      const a = after[i] as ServerStats;
      return {
        load: loads[i] as LoadResult,
        cpuMicros: a.cpuMicros - b.cpuMicros,
        tokenReviews: a.tokenReviews - b.tokenReviews,
        jwksFetches: a.jwksFetches - b.jwksFetches,
        middlewareMicros: a.middlewareMicros - b.middlewareMicros,
        middlewareCalls: a.middlewareCalls - b.middlewareCalls,
        middlewareHistogram: a.middlewareHistogram.map((n, k) => n - (b.middlewareHistogram[k] ?? 0)),
      };
    });
  };
  const perRequest = (w: Window) => w.cpuMicros / w.load.responses;
  const twins = new Map<string, HttpConfig>();
  const twinOf = (config: HttpConfig, base: HttpConfig): HttpConfig => {
    let twin = twins.get(config.id);
    if (!twin) {
      twin = { ...base, id: `${base.id}|${config.id}` };
      twins.set(config.id, twin);
    }
    return twin;
  };
  const brief = (c: HttpConfig, w: Window) => `${c.id} ${fmt(w.load.rps, 0)}/s ${fmt(perRequest(w), 1)} µs`;
  try {
    if (pinning && !pin(process.pid, pinning.load))
      throw new Error(`could not pin the load generator to CPU ${pinning.load}`);
    if (pinning)
      log(
        `  server processes pinned to CPU ${pinning.server}, the load generator (this process) to CPU ${pinning.load}`,
      );
    // Paired: every configuration gets a twin of its baseline, used only beside it, so that both servers have the same
    // history (idle while the others run, then busy together); one baseline shared by all would always be the warmer.
    const toStart =
      mode === 'paired'
        ? configs.flatMap((c) => {
            const base = baseOf(c);
            return base ? [c, twinOf(c, base)] : [];
          })
        : configs;
    // Started a few at a time (start-up is module loading, nothing measured); primed and warmed up one by one.
    for (let i = 0; i < toStart.length; i += 4) {
      const batch = toStart.slice(i, i + 4);
      const started = await Promise.allSettled(
        batch.map((c) => ServerProcess.start(c.auth, undefined, undefined, c.transport, pinning?.server)),
      );
      started.forEach((r, k) => {
        if (r.status === 'fulfilled') servers.set((batch[k] as HttpConfig).id, r.value);
      });
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    for (const config of toStart) {
      const server = servers.get(config.id) as ServerProcess;
      if (config.transport === 'grpc') await primeGrpc(`127.0.0.1:${server.port}`, config.tokens);
      else await prime(server.url, config.tokens, 200);
      if (settings.warmupSeconds > 0) await loadOf(config, settings.warmupSeconds);
    }
    for (let pass = 0; pass < settings.passes; pass++) {
      const line: string[] = [];
      const order = pass % 2 === 0 ? configs : [...configs].reverse();
      if (mode === 'paired') {
        for (const config of order) {
          const base = baseOf(config);
          if (!base) continue;
          const [mine, theirs] = (await measure([config, twinOf(config, base)])) as [Window, Window];
          (windows.get(config.id) as Window[]).push(mine);
          (windows.get(base.id) as Window[]).push(theirs);
          (against.get(config.id) as Array<{ rps: number; cpu: number }>).push({
            rps: theirs.load.rps,
            cpu: perRequest(theirs),
          });
          line.push(`${brief(config, mine)} ∥ ${fmt(theirs.load.rps, 0)}/s ${fmt(perRequest(theirs), 1)} µs`);
        }
      } else {
        const round = new Map<string, Window>();
        for (const config of order) {
          const [w] = (await measure([config])) as [Window];
          round.set(config.id, w);
          (windows.get(config.id) as Window[]).push(w);
          line.push(brief(config, w));
        }
        for (const config of configs) {
          const base = baseOf(config);
          const w = base && round.get(base.id);
          if (w)
            (against.get(config.id) as Array<{ rps: number; cpu: number }>).push({
              rps: w.load.rps,
              cpu: perRequest(w),
            });
        }
      }
      log(`  round ${pass + 1}/${settings.passes} (${mode}, ${fmt(seconds, 2)} s each): ${line.join(' · ')}`);
    }
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()));
    if (pinning) pin(process.pid, pinning.original);
  }
  const rows = configs.map((config): HttpRow => {
    const ws = windows.get(config.id) as Window[];
    const sum = (f: (w: Window) => number) => ws.reduce((total, w) => total + f(w), 0);
    const calls = sum((w) => w.middlewareCalls);
    const histogram = ws.reduce<number[]>((total, w) => w.middlewareHistogram.map((n, k) => n + (total[k] ?? 0)), []);
    const base = baseOf(config);
    const paired = against.get(config.id) as Array<{ rps: number; cpu: number }>;
    return {
      ...config,
      load: combine(ws.map((w) => w.load)),
      passes: ws.map((w) => w.load.rps),
      cpuPerPass: ws.map(perRequest),
      cpuMicrosPerRequest: sum((w) => w.cpuMicros) / sum((w) => w.load.responses),
      middlewareMicros: calls > 0 ? sum((w) => w.middlewareMicros) / calls : undefined,
      middlewareMedianMicros: calls > 0 ? histogramMedian(histogram, calls) : undefined,
      tokenReviews: sum((w) => w.tokenReviews),
      jwksFetches: sum((w) => w.jwksFetches),
      ...(base && paired.length > 0
        ? {
            baselineId: base.id,
            ratio: spread(ws.map((w, i) => w.load.rps / (paired[i] as { rps: number }).rps)),
            cpuAdded: spread(ws.map((w, i) => perRequest(w) - (paired[i] as { cpu: number }).cpu)),
          }
        : {}),
    };
  });
  return {
    rows,
    method: {
      rounds: settings.passes,
      secondsPerRound: seconds,
      warmupSeconds: settings.warmupSeconds,
      mode,
      pinning: pinning && { server: pinning.server, load: pinning.load },
    },
  };
}

/** The median of the timed middleware calls, from the server's histogram (buckets of {@link MIDDLEWARE_BUCKET_MICROS}). */
function histogramMedian(histogram: readonly number[], calls: number): number {
  let seen = 0;
  for (let k = 0; k < histogram.length; k++) {
    seen += histogram[k] as number;
    if (seen * 2 >= calls) return (k + 0.5) * MIDDLEWARE_BUCKET_MICROS;
  }
  return NaN;
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
            return {
              load,
              tokenReviews: after.tokenReviews - before.tokenReviews,
              jwksFetches: after.jwksFetches - before.jwksFetches,
            };
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
  const floodTokens = Array.from({ length: distinctKids }, () =>
    signJwt(throwaway, { ...claims, jti: randomBytes(16).toString('hex') }, randomBytes(20).toString('base64url')),
  );
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
      runLoad({
        url: server.url,
        tokens: floodTokens,
        connections: settings.connections,
        durationSeconds: settings.floodSeconds,
      }),
      runLoad({
        url: server.url,
        tokens: [real],
        connections: 2,
        durationSeconds: settings.floodSeconds,
        overallRate: legitRate,
      }),
    ]);
    const after = await server.stats();
    const fetchTimes = after.jwksFetchTimes.filter((t) => t >= floodStart).map((t) => (t - floodStart) / 1000);
    let minGapSeconds = Number.POSITIVE_INFINITY;
    for (let i = 1; i < fetchTimes.length; i++)
      minGapSeconds = Math.min(minGapSeconds, (fetchTimes[i] as number) - (fetchTimes[i - 1] as number));
    const bound = Math.ceil(flood.seconds / settings.cooldownSeconds);
    const fetches = after.jwksFetches - before.jwksFetches;
    log(
      `  flood ${fmt(flood.rps, 0)} req/s (${flood.status['401'] ?? 0} × 401), ${fetches} JWKS fetches in ${fmt(flood.seconds, 1)} s ` +
        `(cooldown ${settings.cooldownSeconds} s, bound ${bound}); valid caller: ${legit.ok}/${legit.responses} × 200, p99 ${fmt(legit.latency.p99, 2)} ms`,
    );
    return {
      cooldownSeconds: settings.cooldownSeconds,
      distinctKids,
      flood,
      legit,
      legitRate,
      fetches,
      fetchTimes,
      minGapSeconds,
      bound,
    };
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
        const tokens = Array.from({ length: n }, (_, i) =>
          signJwt(key, serviceAccountClaims(issuer, sent + i + 1, fixture.apiServiceAccountUid)),
        );
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
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '–';
export const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
