/**
 * Paired in-process chunks: the one method that resolves a few µs on a 2-core machine other work shares. Each round
 * times one short chunk of every path, back to back, in an order that rotates from round to round; a moment of noise
 * hits the chunks of one round alike, so the per-round differences (or ratios) between paths move far less than the
 * paths' own figures. Chunks are timed by the process's CPU time (waiting for a core is not the path's cost). GC is
 * kept out of them: a minor collection (`gc({ type: 'minor' })`, node `--expose-gc`) empties the young generation
 * before each chunk, and the young generation is made large (`--min/max-semi-space-size=64`, as `pnpm bench` runs it)
 * so that a ~10 ms chunk never fills it. (A full `gc()` there instead made every chunk slower and noisier: cold
 * caches, and concurrent sweeping counted in the process's CPU time.) Collections that still start inside a chunk
 * are counted and printed.
 */
import { PerformanceObserver } from 'node:perf_hooks';

export interface Path {
  id: string;
  /** One operation; a promise is awaited before the next. */
  run: () => unknown;
}

export interface PairedOptions {
  rounds: number;
  /** Target CPU time of one chunk. */
  chunkMs: number;
  /** The whole measurement stops after this, whatever rounds remain. */
  maxSeconds: number;
}

export interface PairedRun {
  /** ns per operation of each path, round by round (the same index is the same round). */
  nanos: Map<string, number[]>;
  chunks: number;
  /** Collections that started inside a timed chunk. */
  gcInChunks: number;
}

const collect = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc;

/**
 * One turn of the event loop, between chunks: a chunk of awaited requests runs on microtasks only, so what they left
 * for later (light-my-request's writes complete in a `setImmediate`) runs here, outside the timed region, instead of
 * piling up for the whole run (it did: ~9 KB held per request, and collections of an ever larger heap).
 */
const turn = () => new Promise((resolve) => setImmediate(resolve));

function cpuNanos(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

async function chunk(path: Path, calls: number): Promise<number> {
  const first = path.run();
  const isAsync = first instanceof Promise;
  if (isAsync) await first;
  const t = cpuNanos();
  if (isAsync) for (let i = 0; i < calls; i++) await path.run();
  else for (let i = 0; i < calls; i++) path.run();
  return (cpuNanos() - t) / calls;
}

export async function pairedChunks(paths: readonly Path[], options: PairedOptions): Promise<PairedRun> {
  if (!collect) throw new Error('run node with --expose-gc (pnpm bench does)');
  const gcStarts: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcStarts.push(entry.startTime);
  });
  observer.observe({ entryTypes: ['gc'] });
  const windows: [number, number][] = [];
  const deadline = performance.now() + options.maxSeconds * 1000;
  // Calibration: warm each path for ~4 chunks' worth, then size its chunk to chunkMs.
  const calls = new Map<string, number>();
  for (const path of paths) {
    let n = 16;
    let ns = 0;
    for (let spent = 0; spent < options.chunkMs * 4e6 && n < 1e7; n *= 2) {
      await turn();
      ns = await chunk(path, n);
      spent += ns * n;
    }
    calls.set(path.id, Math.max(8, Math.round((options.chunkMs * 1e6) / ns)));
  }
  const nanos = new Map<string, number[]>(paths.map((p) => [p.id, []]));
  let rounds = 0;
  for (; rounds < options.rounds && performance.now() < deadline; rounds++) {
    const rotated = paths.map((_, i) => paths[(i + rounds) % paths.length] as Path);
    for (const path of rounds % 2 ? rotated.reverse() : rotated) {
      await turn();
      collect({ type: 'minor' });
      const start = performance.now();
      nanos.get(path.id)?.push(await chunk(path, calls.get(path.id) as number));
      windows.push([start, performance.now()]);
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  const gcInChunks = gcStarts.filter((t) => windows.some(([a, b]) => t >= a && t <= b)).length;
  return { nanos, chunks: windows.length, gcInChunks };
}

/** Round by round: path minus baseline, ns per operation. */
export function differences(run: PairedRun, path: string, baseline: string): number[] {
  const a = run.nanos.get(path) ?? [];
  const b = run.nanos.get(baseline) ?? [];
  return a.map((v, i) => v - (b[i] as number));
}

/** Round by round: throughput of path as a fraction of baseline's (baseline ns / path ns). */
export function throughputRatios(run: PairedRun, path: string, baseline: string): number[] {
  const a = run.nanos.get(path) ?? [];
  const b = run.nanos.get(baseline) ?? [];
  return a.map((v, i) => (b[i] as number) / v);
}
