import { createRequire } from 'node:module';

/** The part of autocannon's programmatic API used here (it ships no types). */
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}
interface AutocannonOptions {
  url: string;
  connections: number;
  duration?: number;
  amount?: number;
  overallRate?: number;
  requests: AutocannonRequest[];
  timeout?: number;
}
interface AutocannonInstance {
  on(
    event: 'response',
    listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void,
  ): this;
  stop(): void;
}
interface AutocannonResult {
  errors: number;
  timeouts: number;
}
type Autocannon = (
  options: AutocannonOptions,
  done: (error: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** Options of {@link runLoad}. */
export interface LoadOptions {
  url: string;
  /**
   * The bearer tokens sent: each connection cycles through them (pre-built requests, so rotating costs the load
   * generator nothing), or a function called per request (many distinct tokens, built on the fly).
   */
  tokens: readonly string[] | (() => string);
  connections: number;
  /** Run for this long (seconds)... */
  durationSeconds?: number;
  /** ...or send this many requests (bounded by `maxSeconds`). */
  amount?: number;
  maxSeconds?: number;
  /** Requests per second over all connections; unlimited when absent. */
  overallRate?: number;
}

export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  seconds: number;
  responses: number;
  /** Responses per second (all statuses). */
  rps: number;
  /** Latency in ms with sub-ms precision (measured from autocannon's per-response timings, not its integer histogram). */
  latency: Latency;
  status: Record<string, number>;
  ok: number;
  errors: number;
  timeouts: number;
  /** Every response's latency (ms), to merge runs. */
  samples: Float64Array;
}

/** One result for several runs of the same configuration: totals, and percentiles over all their responses. */
export function combine(results: readonly LoadResult[]): LoadResult {
  const seconds = results.reduce((sum, r) => sum + r.seconds, 0);
  const responses = results.reduce((sum, r) => sum + r.responses, 0);
  const samples = new Float64Array(results.reduce((sum, r) => sum + r.samples.length, 0));
  let offset = 0;
  const status: Record<string, number> = {};
  for (const r of results) {
    samples.set(r.samples, offset);
    offset += r.samples.length;
    for (const [code, n] of Object.entries(r.status)) status[code] = (status[code] ?? 0) + n;
  }
  return {
    seconds,
    responses,
    rps: responses / seconds,
    latency: percentiles(samples),
    status,
    ok: results.reduce((sum, r) => sum + r.ok, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    timeouts: results.reduce((sum, r) => sum + r.timeouts, 0),
    samples,
  };
}

/** Percentiles of a sample (ms). */
export function percentiles(values: Float64Array): Latency {
  if (values.length === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted[sorted.length - 1] as number,
    mean: sum / sorted.length,
  };
}

/** Runs autocannon in this process against a server in another one, on loopback. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { tokens } = options;
  const requests: AutocannonRequest[] =
    typeof tokens === 'function'
      ? [
          {
            method: 'GET',
            setupRequest: (request) => ({ ...request, headers: { authorization: `Bearer ${tokens()}` } }),
          },
        ]
      : tokens.map((token) => ({ method: 'GET', headers: { authorization: `Bearer ${token}` } }));
  if (requests.length === 0) throw new Error('no tokens');

  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const status: Record<string, number> = {};
  const startedAt = performance.now();
  let finishedAt = startedAt;

  return new Promise<LoadResult>((resolve, reject) => {
    let settled = false;
    const running: { instance?: AutocannonInstance } = {};
    // autocannon stops by itself after `duration` or `amount`; this only bounds a run that would not.
    const maxSeconds = options.maxSeconds ?? (options.durationSeconds ?? 60) + 30;
    const guard = setTimeout(() => {
      if (typeof running.instance?.stop === 'function') running.instance.stop();
    }, maxSeconds * 1000);
    guard.unref();
    const autocannonOptions: AutocannonOptions = {
      url: options.url,
      connections: options.connections,
      requests,
      timeout: 10,
    };
    if (options.amount !== undefined) autocannonOptions.amount = options.amount;
    else autocannonOptions.duration = options.durationSeconds ?? 10;
    if (options.overallRate !== undefined) autocannonOptions.overallRate = options.overallRate;
    const instance = autocannon(autocannonOptions, (error, result) => {
      clearTimeout(guard);
      if (settled) return;
      settled = true;
      finishedAt = performance.now();
      if (error) {
        reject(error);
        return;
      }
      const seconds = (finishedAt - startedAt) / 1000;
      resolve({
        seconds,
        responses: count,
        rps: count / seconds,
        latency: percentiles(latencies.subarray(0, count)),
        status,
        ok: status['200'] ?? 0,
        errors: result.errors,
        timeouts: result.timeouts,
        samples: latencies.slice(0, count),
      });
    });
    running.instance = instance;
    if (typeof instance?.on !== 'function') return;
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = responseTime;
      status[statusCode] = (status[statusCode] ?? 0) + 1;
    });
  });
}
