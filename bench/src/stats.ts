/**
 * The bench's statistics: the median of per-pair figures and a distribution-free interval of it, and a bootstrap for
 * the one figure that is a ratio of two medians.
 */

/** A median and its ~95% interval. */
export interface Estimate {
  median: number;
  low: number;
  high: number;
  n: number;
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

export function median(values: readonly number[]): number {
  const s = sorted(values);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * The median and an order-statistic ~95% interval of it: with n values sorted, ranks n/2 ± 0.98·√n (the binomial
 * interval of the median, normal approximation), clamped to the sample. Assumes nothing about the distribution.
 */
export function estimate(values: readonly number[]): Estimate {
  const s = sorted(values);
  const n = s.length;
  if (n === 0) return { median: NaN, low: NaN, high: NaN, n };
  const half = 0.98 * Math.sqrt(n);
  const lowRank = Math.max(1, Math.floor(n / 2 - half));
  const highRank = Math.min(n, Math.ceil(n / 2 + 1 + half));
  return { median: median(s), low: s[lowRank - 1] as number, high: s[highRank - 1] as number, n };
}

/** A small seeded PRNG (mulberry32): the bootstrap gives the same interval for the same data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * median(numerators) / median(denominators) over rounds that measured both, with a percentile-bootstrap ~95% interval:
 * rounds are resampled whole, so what a busy moment does to both figures of a round stays together.
 */
export function ratioOfMedians(numerators: readonly number[], denominators: readonly number[]): Estimate {
  const n = numerators.length;
  const next = random(20);
  const ratios: number[] = [];
  for (let b = 0; b < 2000; b++) {
    const num: number[] = [];
    const den: number[] = [];
    for (let i = 0; i < n; i++) {
      const k = Math.floor(next() * n);
      num.push(numerators[k] as number);
      den.push(denominators[k] as number);
    }
    ratios.push(median(num) / median(den));
  }
  const s = sorted(ratios);
  return {
    median: median(numerators) / median(denominators),
    low: s[Math.floor(0.025 * s.length)] as number,
    high: s[Math.ceil(0.975 * s.length) - 1] as number,
    n,
  };
}
