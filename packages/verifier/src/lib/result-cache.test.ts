import { afterEach, describe, expect, it } from 'vitest';
import { fakeClock } from '../../test/fake-issuer.js';
import { ResultCache } from './result-cache.js';

const caches: ResultCache<string>[] = [];
afterEach(() => {
  for (const cache of caches.splice(0)) cache.close();
});

function setup() {
  const time = fakeClock();
  const cache = new ResultCache<string>({ maxEntries: 2, maxRejections: 2, clock: time.clock });
  caches.push(cache);
  return { time, cache };
}

describe('ResultCache: two pools, two bounds', () => {
  it('keeps successes when rejections fill their own pool', () => {
    const { time, cache } = setup();
    expect(cache.set('ok-1', 'a', time.now() + 60_000)).toBe(true);
    for (let i = 0; i < 10; i++) cache.set(`bad-${i}`, 'refused', time.now() + 60_000, true);
    expect(cache.get('ok-1')).toBe('a');
    expect(cache.rejections).toBe(2);
  });

  it('makes room for a new caller in a full pool of expired successes, even while a flood keeps the rejections full', () => {
    const { time, cache } = setup();
    cache.set('ok-1', 'a', time.now() + 400);
    cache.set('ok-2', 'b', time.now() + 400);
    let cachedCallers = 0;
    // One rejection every 100 ms (its pool full from the start), a new valid caller every second, both past expiry.
    for (let tick = 1; tick <= 100; tick++) {
      time.advance(0.1);
      cache.set(`bad-${tick}`, 'refused', time.now() + 60_000, true);
      if (tick % 10 === 5 && cache.set(`new-${tick}`, 'c', time.now() + 500)) cachedCallers++;
    }
    expect(cachedCallers).toBe(10);
  });

  it('judges expiry on the clock reading it is given, and reclaims expired entries when purged', () => {
    const { time, cache } = setup();
    cache.set('ok-1', 'a', time.now() + 1000);
    cache.set('bad-1', 'refused', time.now() + 5000, true);
    expect(cache.get('ok-1', time.now() + 999)).toBe('a');
    expect(cache.get('ok-1', time.now() + 1000)).toBeUndefined();
    cache.set('ok-2', 'b', time.now() + 1000);
    time.advance(2);
    expect(cache.size).toBe(2);
    cache.purgeExpired();
    expect(cache.size).toBe(1);
    expect(cache.get('bad-1')).toBe('refused');
  });
});
