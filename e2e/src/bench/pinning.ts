import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * Which CPUs the server under test and the load generator run on. On 2 shared cores, letting the scheduler move the
 * server and autocannon between the cores (and onto the same one) adds noise that dwarfs a few µs per request; pinning
 * each to its own core (`taskset`, all threads) takes that variable out. Off with `BENCH_PIN=0`, and when there are
 * fewer than 2 CPUs or no `taskset`.
 */
export interface CpuPinning {
  /** CPU list of the server children (`taskset -c` syntax). */
  server: string;
  /** CPU list of this process (the load generator) while measuring. */
  load: string;
  /** This process's affinity before pinning, restored afterwards. */
  original: string;
}

function affinity(pid: number): string | undefined {
  try {
    // "pid 123's current affinity list: 0,1"
    return execFileSync('taskset', ['-cp', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split(':')
      .pop()
      ?.trim();
  } catch {
    return undefined;
  }
}

function cpus(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [from, to] = part.split('-').map(Number) as [number, number | undefined];
    return to === undefined ? [from] : Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

export function planPinning(): CpuPinning | undefined {
  if (process.env.BENCH_PIN?.trim() === '0' || process.platform !== 'linux' || availableParallelism() < 2)
    return undefined;
  const original = affinity(process.pid);
  if (!original) return undefined;
  const allowed = cpus(original);
  if (allowed.length < 2) return undefined;
  return { load: String(allowed[0]), server: String(allowed[allowed.length - 1]), original };
}

/** Pins every thread of `pid` (threads created later inherit it). False when taskset refused. */
export function pin(pid: number, list: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-cp', list, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
