import { randomBytes } from 'node:crypto';
import { ServiceAccountVerifier, type TokenReviewClient, type VerifierEvent } from '@kube-service-auth/verifier';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attacker, b64, Cluster, movableClock, pollUntil, signCompact, type Store } from './fixture.js';
import { closeAgent, get, metricValue, SlowProxy } from './net.js';
import { expectAccepted, expectHttp, expectRejected, measure, outcomeOf, record, reportAfterAll } from './registry.js';

// Faults against the real control plane: the real kube-apiserver is stopped, slowed down (a TCP proxy that holds
// bytes back), restarted with a new signing key, flooded, and refused the RBAC it needs. Each fault must fail closed
// with its own reason (never a pass, never an "invalid token" for an outage), recover by itself, and serve every
// valid request that can be served.

reportAfterAll();

let cluster: Cluster;
let proxy: SlowProxy;

beforeAll(async () => {
  cluster = await Cluster.start();
  proxy = await SlowProxy.start(cluster.cp.port);
});

afterAll(async () => {
  closeAgent();
  await proxy?.stop();
  await cluster?.stop();
});

const F = (fault: string, check: string) => `${fault} — ${check}`;

/**
 * After a TokenReview fault is lifted: the reviewer accepts `reviewToken` again (polled: outages are not cached, and
 * held-back bytes of timed-out reviews drain first), and then the data store answers 200 for `storeToken`.
 */
async function expectRecovers(
  fault: string,
  when: string,
  reviewer: { verify(token: string): Promise<unknown> },
  reviewToken: string,
  storeUrl: string,
  storeToken: string,
): Promise<void> {
  const inProcess = await pollUntil(
    () => outcomeOf(() => reviewer.verify(reviewToken)),
    (o) => o.verdict === 'accept',
    15_000,
  );
  await expectAccepted(
    F(fault, `${when}: recovers`),
    async () => {
      if (inProcess.value.verdict !== 'accept') throw inProcess.value.error;
    },
    { kind: 'fault' },
  );
  const { value } = await pollUntil(
    () => get(storeUrl, { 'x-client-id': storeToken }),
    (a) => a.status === 200,
    15_000,
    500,
  );
  expectHttp(F(fault, `${when}: data store recovers`), value, { status: 200, reason: null }, { kind: 'fault' });
}
const jwksFetches = (events: VerifierEvent[], ok?: boolean) =>
  events.filter((e) => e.type === 'jwks_fetch' && (ok === undefined || e.ok === ok)).length;
const metrics = async (store: Store) => (await get(`${store.url}metrics`)).body;

/** `n` fresh tokens of the allowed caller (distinct jti), so that no result cache answers for the key set. */
async function freshTokens(n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, () => cluster.token()));
}

describe('JWKS endpoint down: the API server is stopped', () => {
  const DOWN = 'JWKS endpoint down (API server stopped)';
  const clock = movableClock();
  let warm: ReturnType<Cluster['localVerifier']>;
  let cold: ReturnType<Cluster['localVerifier']>;
  let reviewer: ReturnType<Cluster['tokenReviewVerifier']>;
  let revocation: ServiceAccountVerifier;
  let tokens: string[];
  let recoveryToken: string;
  let warmStore: Store;
  let shortStore: Store;
  let reviewStore: Store;
  let coldStore: Store;
  let startColdStore: () => Promise<Store>;
  const next = () => {
    const token = tokens.pop();
    if (!token) throw new Error('out of fresh tokens: mint more in beforeAll');
    return token;
  };

  beforeAll(async () => {
    tokens = await freshTokens(20);
    recoveryToken = await cluster.token();
    // Key-set freshness 60 s (the API server says max-age=3600; the bound applies), then 120 s of stale use.
    warm = cluster.localVerifier({ clock: clock.clock, jwks: { maxMaxAge: 60, maxStaleness: 120 } });
    reviewer = cluster.tokenReviewVerifier(cluster.reviewClient(), { timeoutMs: 2000 });
    // Its own LocalVerifier on the real clock, so that its keys are fresh whatever the moved clock of `warm` says.
    revocation = new ServiceAccountVerifier({
      mode: 'local',
      local: cluster.localVerifier().verifier,
      tokenReview: reviewer,
    });
    await warm.verifier.verify(next());
    await revocation.verify(next(), { revocationSensitive: true });
    const prepared = await Promise.all([
      cluster.prepareStore({ mode: 'local' }),
      // The shortest freshness and staleness the configuration allows, no result cache: the bound is reached in ~15 s.
      cluster.prepareStore({
        mode: 'local',
        env: {
          K8S_AUTH_JWKS_MAX_AGE_SECONDS: '10',
          K8S_AUTH_JWKS_MAX_STALENESS_SECONDS: '5',
          K8S_AUTH_CACHE_TTL_SECONDS: '0',
        },
      }),
      cluster.prepareStore({ mode: 'tokenreview' }),
      cluster.prepareStore({ mode: 'local' }),
    ]);
    [warmStore, shortStore, reviewStore] = (await Promise.all(prepared.slice(0, 3).map((p) => p.start()))) as [
      Store,
      Store,
      Store,
    ];
    startColdStore = prepared[3].start;
    for (const store of [warmStore, shortStore, reviewStore])
      expect((await get(store.url, { 'x-client-id': next() })).status).toBe(200);
    expect((await get(`${warmStore.url}sensitive`, { 'x-client-id': next() })).status).toBe(200);
    expect(jwksFetches(warm.events, true)).toBe(1);
    await cluster.cp.stopApiServer();
  });

  it('warm cache, fresh keys: a token with a known kid is still accepted (in-process and over HTTP)', async () => {
    await expectAccepted(
      F(DOWN, 'warm cache within max-age: token with a known kid accepted'),
      () => warm.verifier.verify(next()),
      { kind: 'fault' },
    );
    expectHttp(
      F(DOWN, 'warm cache within max-age: token with a known kid accepted'),
      await get(warmStore.url, { 'x-client-id': next() }),
      { status: 200, reason: null },
      { kind: 'fault' },
    );
    expect(jwksFetches(warm.events)).toBe(1);
  });

  it('past max-age: the stale keys keep serving until max-age + maxStaleness, while background refreshes fail', async () => {
    clock.advance(100); // 40 s into the 120 s of staleness
    await expectAccepted(
      F(DOWN, 'past max-age, within maxStaleness: stale keys accepted'),
      () => warm.verifier.verify(next()),
      { kind: 'fault' },
    );
    expect(warm.events.some((e) => e.type === 'jwks_stale')).toBe(true);
    // The refresh behind the request reaches the stopped API server and fails; the request did not wait for it.
    const { value } = await pollUntil(
      async () => jwksFetches(warm.events, false),
      (n) => n >= 1,
      10_000,
      50,
    );
    expect(value).toBeGreaterThanOrEqual(1);
  });

  it('past max-age + maxStaleness: jwks_unavailable (503 over HTTP), never an invalid-token code', async () => {
    clock.advance(90); // 190 s: past 60 + 120
    await expectRejected(
      F(DOWN, 'past max-age + maxStaleness'),
      'jwks_unavailable',
      () => warm.verifier.verify(next()),
      {
        kind: 'fault',
        expected: 'fails closed: 503',
      },
    );
    // The data store with max-age 10 s and staleness 5 s: 200 until the bound, then 503 — never a 403 in between. It
    // has no result cache, so one token is verified against the key set on every request.
    const probe = next();
    const { value, history } = await pollUntil(
      () => get(shortStore.url, { 'x-client-id': probe }),
      (a) => a.status !== 200,
      30_000,
      500,
    );
    expect(history.slice(0, -1).every((a) => a.status === 200)).toBe(true);
    expectHttp(
      F(DOWN, 'past max-age + maxStaleness'),
      value,
      { status: 503, reason: 'jwks_unavailable' },
      { kind: 'fault' },
    );
  });

  it('cold start with the API server down: jwks_unavailable (503), not 403', async () => {
    cold = cluster.localVerifier();
    await expectRejected(
      F('cold start with the JWKS endpoint down', 'no key set yet'),
      'jwks_unavailable',
      () => cold.verifier.verify(next()),
      {
        kind: 'fault',
        expected: 'fails closed: 503, not 401/403',
      },
    );
    coldStore = await startColdStore();
    expectHttp(
      F('cold start with the JWKS endpoint down', 'no key set yet'),
      await get(coldStore.url, { 'x-client-id': next() }),
      { status: 503, reason: 'jwks_unavailable' },
      {
        kind: 'fault',
      },
    );
    expect((await get(`${coldStore.url}readyz`)).status).toBe(503);
  });

  it('TokenReview with the API server down: tokenreview_unavailable (503), no accept', async () => {
    const TR = 'TokenReview: API server down';
    await expectRejected(F(TR, 'TokenReview mode'), 'tokenreview_unavailable', () => reviewer.verify(next()), {
      kind: 'fault',
      expected: 'fails closed: 503',
    });
    await expectRejected(
      F(TR, 'revocation-sensitive verify in local mode'),
      'tokenreview_unavailable',
      () => revocation.verify(next(), { revocationSensitive: true }),
      {
        kind: 'fault',
        expected: 'fails closed: 503',
      },
    );
    expectHttp(
      F(TR, 'TokenReview mode'),
      await get(reviewStore.url, { 'x-client-id': next() }),
      { status: 503, reason: 'tokenreview_unavailable' },
      { kind: 'fault' },
    );
    expectHttp(
      F(TR, 'revocation-sensitive verify in local mode'),
      await get(`${warmStore.url}sensitive`, { 'x-client-id': next() }),
      { status: 503, reason: 'tokenreview_unavailable' },
      {
        kind: 'fault',
      },
    );
  });

  it('the API server returns: every verifier and data store recovers by itself, without a restart', async () => {
    await cluster.cp.startApiServer();
    clock.advance(10); // past retryAfterFailure (5 s) since the last failed attempt
    await expectAccepted(F(DOWN, 'API server back: same verifier recovers'), () => warm.verifier.verify(next()), {
      kind: 'fault',
    });
    const coldAgain = await pollUntil(
      () => outcomeOf(() => cold.verifier.verify(recoveryToken)),
      (o) => o.verdict === 'accept',
      15_000,
    );
    await expectAccepted(
      F('cold start with the JWKS endpoint down', 'API server back: recovers'),
      async () => {
        if (coldAgain.value.verdict !== 'accept') throw coldAgain.value.error;
      },
      { kind: 'fault' },
    );
    await expectAccepted(
      F('TokenReview: API server down', 'API server back: recovers'),
      () => reviewer.verify(next()),
      { kind: 'fault' },
    );
    for (const [name, url] of [
      [F(DOWN, 'API server back: data store recovers'), shortStore.url],
      [F('cold start with the JWKS endpoint down', 'API server back: data store recovers'), coldStore.url],
      [F('TokenReview: API server down', 'API server back: data store recovers'), reviewStore.url],
      [
        F('TokenReview: API server down', 'API server back: revocation-sensitive route recovers'),
        `${warmStore.url}sensitive`,
      ],
    ] as const) {
      const { value } = await pollUntil(
        () => get(url, { 'x-client-id': recoveryToken }),
        (a) => a.status === 200,
        20_000,
        500,
      );
      expectHttp(name, value, { status: 200, reason: null }, { kind: 'fault' });
    }
    for (const store of [warmStore, shortStore, reviewStore, coldStore])
      expect((await get(`${store.url}healthz`)).status).toBe(200);
  });
});

describe('JWKS endpoint slow: a proxy holds the bytes back longer than the time-out', () => {
  const SLOW = 'JWKS endpoint slow';
  const clock = movableClock();
  let slow: ReturnType<Cluster['localVerifier']>;
  let tokens: string[];
  const next = () => {
    const token = tokens.pop();
    if (!token) throw new Error('out of fresh tokens: mint more in beforeAll');
    return token;
  };

  beforeAll(async () => {
    tokens = await freshTokens(8);
    slow = cluster.localVerifier({
      issuers: [{ issuer: cluster.issuer, jwksUri: `${proxy.url}/openid/v1/jwks` }],
      clock: clock.clock,
      jwks: { timeoutMs: 500, maxMaxAge: 60, maxStaleness: 120 },
    });
    await slow.verifier.verify(next());
  });

  it('past max-age, the stale keys answer at once while the refresh times out behind the request', async () => {
    proxy.delayMs = 3000;
    clock.advance(100);
    await expectAccepted(
      F(SLOW, 'past max-age: stale keys accepted without waiting for the refresh'),
      () => slow.verifier.verify(next()),
      { kind: 'fault' },
    );
    expect(jwksFetches(slow.events, false)).toBe(0); // the request returned before its refresh failed
    const { value } = await pollUntil(
      async () => jwksFetches(slow.events, false),
      (n) => n >= 1,
      10_000,
      50,
    );
    expect(value).toBe(1);
    const failed = slow.events.find((e) => e.type === 'jwks_fetch' && !e.ok);
    expect(failed && failed.durationMs).toBeGreaterThanOrEqual(450);
  });

  it('past max-age + maxStaleness: jwks_unavailable after the time-out', async () => {
    clock.advance(90);
    await expectRejected(
      F(SLOW, 'past max-age + maxStaleness: refresh times out'),
      'jwks_unavailable',
      () => slow.verifier.verify(next()),
      {
        kind: 'fault',
        expected: 'fails closed: 503',
      },
    );
    const cold = cluster.localVerifier({
      issuers: [{ issuer: cluster.issuer, jwksUri: `${proxy.url}/openid/v1/jwks` }],
      jwks: { timeoutMs: 500 },
    });
    await expectRejected(
      F(SLOW, 'cold start: fetch times out'),
      'jwks_unavailable',
      () => cold.verifier.verify(next()),
      { kind: 'fault', expected: 'fails closed: 503' },
    );
  });

  it('the endpoint speeds up: the same verifier recovers', async () => {
    proxy.delayMs = 0;
    clock.advance(10);
    await expectAccepted(F(SLOW, 'endpoint fast again: recovers'), () => slow.verifier.verify(next()), {
      kind: 'fault',
    });
  });
});

describe('key rotation: the API server restarts with a new signing key', () => {
  const ROT = 'key rotation';
  const clock = movableClock();
  let rot: ReturnType<Cluster['localVerifier']>;
  let store: Store;
  let oldToken: string;
  let oldToken2: string;
  let newToken: string;
  let lastFetchAt: number;
  let fetchesBefore: number;
  let floodFetchesBefore: number;
  let floodStarted: number;
  let flooding = true;
  let flood: Promise<{ requests: number; accepted: number }>;
  const randomKid = (template: string) => {
    const [, p, sig] = template.split('.');
    return `${b64(JSON.stringify({ alg: 'RS256', kid: randomBytes(16).toString('base64url') }))}.${p}.${sig}`;
  };

  beforeAll(async () => {
    // Default cooldown (5 s) and time-out (5 s): what a deployment gets without tuning.
    rot = cluster.localVerifier({ clock: clock.clock });
    [oldToken, oldToken2] = (await freshTokens(2)) as [string, string];
    await rot.verifier.verify(oldToken);
    lastFetchAt = clock.clock();
    store = await cluster.startStore({ mode: 'local' });
    expect((await get(store.url, { 'x-client-id': oldToken })).status).toBe(200);
    fetchesBefore = metricValue(await metrics(store), 'kube_auth_upstream_requests_total', {
      kind: 'jwks',
      result: 'ok',
    });
    floodFetchesBefore = metricValue(await metrics(store), 'kube_auth_upstream_requests_total', { kind: 'jwks' });
    // A random-kid flood for the whole rotation keeps the store's cooldown busy: whenever a valid token with the new kid
    // arrives, a fetch happened less than a cooldown ago (the worst case for rotation).
    floodStarted = Date.now();
    flood = (async () => {
      let requests = 0;
      let accepted = 0;
      while (flooding) {
        const answers = await Promise.all(
          Array.from({ length: 20 }, () =>
            get(store.url, { 'x-client-id': randomKid(oldToken) }, 30_000).catch(() => ({ status: 0 })),
          ),
        );
        requests += answers.length;
        accepted += answers.filter((a) => a.status === 200).length;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return { requests, accepted };
    })();
    await cluster.cp.restartApiServer({ signingKey: 'new' });
    newToken = await cluster.token();
    expect(decodeProtectedHeader(newToken).kid).not.toBe(decodeProtectedHeader(oldToken).kid);
  });

  afterAll(() => {
    flooding = false;
  });

  it('a new kid within the cooldown of the last fetch waits for the next fetch the cooldown allows and is accepted', async () => {
    // The verifier's clock is put 1 s after its last fetch: the new key was published within the cooldown.
    clock.advance((lastFetchAt + 1000 - clock.clock()) / 1000);
    const started = performance.now();
    await expectAccepted(
      F(ROT, 'new kid within the cooldown of the last fetch: waits for the next fetch, accepted'),
      () => rot.verifier.verify(newToken),
      { kind: 'fault' },
    );
    const waitedMs = performance.now() - started;
    measure('rotation: wait of a new kid 1 s into a 5 s cooldown', waitedMs, 'ms');
    expect(waitedMs).toBeGreaterThanOrEqual(3000);
    expect(waitedMs).toBeLessThan(5000 + 5000);
    expect(jwksFetches(rot.events, true)).toBe(2);
    await expectAccepted(
      F(ROT, 'old kid after the rotation: accepted, no fetch'),
      () => rot.verifier.verify(oldToken2),
      { kind: 'fault' },
    );
    expect(jwksFetches(rot.events)).toBe(2);
  });

  it('over HTTP, under a random-kid flood: callers with fresh tokens see no refusal, and the flood costs ≤ 1 fetch per cooldown', async () => {
    const fresh = [newToken, ...(await freshTokens(19))];
    const answers = [];
    for (const token of fresh) {
      answers.push(await get(store.url, { 'x-client-id': token }, 30_000));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const refused = answers.filter((a) => a.status !== 200);
    record({
      kind: 'fault',
      name: F(ROT, 'fresh tokens over HTTP during a random-kid flood: no refusal'),
      expected: 'all 200 (0 refused)',
      reason: '—',
      expectedVerdict: 'accept',
      observedVerdict: refused.length === 0 ? 'accept' : 'reject',
      observed:
        refused.length === 0
          ? `${answers.length} × 200`
          : refused.map((a) => `HTTP ${a.status} ${a.reason ?? ''}`).join(', '),
      inputs: answers.length,
    });
    measure(
      'rotation: valid requests refused after a restart with a new key (under a random-kid flood)',
      refused.length,
      'requests',
    );
    expect(refused).toEqual([]);
    expectHttp(
      F(ROT, 'old kid over HTTP after the rotation: accepted'),
      await get(store.url, { 'x-client-id': oldToken }),
      { status: 200, reason: null },
      { kind: 'fault' },
    );
    flooding = false;
    const { requests, accepted } = await flood;
    const elapsed = (Date.now() - floodStarted) / 1000;
    const fetches =
      metricValue(await metrics(store), 'kube_auth_upstream_requests_total', { kind: 'jwks' }) - floodFetchesBefore;
    record({
      kind: 'fault',
      name: F(ROT, 'random-kid flood across the rotation'),
      expected: `all refused, ≤ 1 + elapsed/5 s key-set fetches (observed ${fetches} in ${elapsed.toFixed(0)} s)`,
      reason: 'key_not_found',
      expectedVerdict: 'reject',
      observedVerdict: accepted ? 'accept' : 'reject',
      observed: `${requests} requests, ${accepted} accepted`,
      inputs: requests,
      mistakes: accepted,
    });
    measure('rotation: key-set fetches during the random-kid flood across the restart', fetches, 'fetches');
    measure(
      'rotation: most key-set fetches allowed (1 + elapsed / 5 s cooldown)',
      1 + Math.floor(elapsed / 5),
      'fetches',
    );
    console.log(
      `[faults] rotation: ${answers.length} fresh tokens after the restart with a new key, ${refused.length} refused; ` +
        `random-kid flood ${requests} requests (${accepted} accepted), ${fetches} key-set fetches in ${elapsed.toFixed(1)} s (bound ${1 + Math.floor(elapsed / 5)})`,
    );
    expect(accepted).toBe(0);
    expect(fetches).toBeLessThanOrEqual(1 + Math.floor(elapsed / 5));
    expect(
      metricValue(await metrics(store), 'kube_auth_upstream_requests_total', { kind: 'jwks', result: 'ok' }) -
        fetchesBefore,
    ).toBeGreaterThanOrEqual(1);
  });
});

describe('a flood of random kids', () => {
  const FLOOD = 'kid flood';
  const clock = movableClock();
  let flood: ReturnType<Cluster['localVerifier']>;
  let template: string;

  /** A token with the allowed caller's claims under a random kid (the signature is irrelevant: no key is found). */
  const randomKidToken = () => {
    const [, p, s] = template.split('.');
    return `${b64(JSON.stringify({ alg: 'RS256', kid: randomBytes(16).toString('base64url') }))}.${p}.${s}`;
  };

  async function floodOf(
    n: number,
    verify: (token: string) => Promise<unknown>,
  ): Promise<{ codes: Set<string>; accepted: number }> {
    const outcomes = await Promise.all(Array.from({ length: n }, () => outcomeOf(() => verify(randomKidToken()))));
    return {
      codes: new Set(outcomes.map((o) => (o.verdict === 'reject' ? o.code : 'accepted'))),
      accepted: outcomes.filter((o) => o.verdict === 'accept').length,
    };
  }

  beforeAll(async () => {
    template = await cluster.token();
    // A 30 s cooldown, set explicitly (the default is 5 s): the next refetch is then further away than the time-out,
    // so a random kid within the cooldown is refused at once instead of waiting.
    flood = cluster.localVerifier({ clock: clock.clock, jwks: { cooldown: 30 } });
    await flood.verifier.verify(template);
  });

  it('within the cooldown of the last fetch: 1,000 concurrent random kids cause no fetch', async () => {
    const result = await floodOf(1000, (t) => flood.verifier.verify(t));
    record({
      kind: 'fault',
      name: F(FLOOD, '1,000 concurrent random kids within the cooldown: 0 fetches'),
      expected: 'all refused, 0 key-set fetches',
      reason: 'key_not_found',
      expectedVerdict: 'reject',
      observedVerdict: result.accepted ? 'accept' : 'reject',
      observed: [...result.codes].join(', '),
      inputs: 1000,
      mistakes: result.accepted,
    });
    expect(result).toEqual({ codes: new Set(['key_not_found']), accepted: 0 });
    expect(jwksFetches(flood.events)).toBe(1);
  });

  it('past the cooldown: 1,000 concurrent random kids cause exactly one fetch', async () => {
    clock.advance(31);
    const result = await floodOf(1000, (t) => flood.verifier.verify(t));
    record({
      kind: 'fault',
      name: F(FLOOD, '1,000 concurrent random kids past the cooldown: 1 fetch'),
      expected: 'all refused, exactly 1 key-set fetch',
      reason: 'key_not_found',
      expectedVerdict: 'reject',
      observedVerdict: result.accepted ? 'accept' : 'reject',
      observed: [...result.codes].join(', '),
      inputs: 1000,
      mistakes: result.accepted,
    });
    expect(result).toEqual({ codes: new Set(['key_not_found']), accepted: 0 });
    expect(jwksFetches(flood.events)).toBe(2);
  });

  it('ten simulated minutes of floods (1,000 random kids every 10 s) cost at most one fetch per 30 s cooldown', async () => {
    const before = jwksFetches(flood.events);
    let accepted = 0;
    const codes = new Set<string>();
    for (let t = 0; t < 600; t += 10) {
      clock.advance(10);
      const result = await floodOf(1000, (token) => flood.verifier.verify(token));
      accepted += result.accepted;
      for (const c of result.codes) codes.add(c);
    }
    const fetches = jwksFetches(flood.events) - before;
    record({
      kind: 'fault',
      name: F(FLOOD, '60,000 random kids over 10 simulated minutes: ≤ 1 fetch per cooldown'),
      expected: `all refused, ≤ 20 key-set fetches (observed ${fetches})`,
      reason: 'key_not_found',
      expectedVerdict: 'reject',
      observedVerdict: accepted ? 'accept' : 'reject',
      observed: [...codes].join(', '),
      inputs: 60_000,
      mistakes: accepted,
    });
    expect(accepted).toBe(0);
    expect([...codes]).toEqual(['key_not_found']);
    expect(fetches).toBeGreaterThan(0);
    expect(fetches).toBeLessThanOrEqual(600 / 30);
  });

  it('over HTTP (default 5 s cooldown): 1,000 concurrent random kids get 403 key_not_found and at most one key-set fetch per cooldown', async () => {
    const store = await cluster.startStore({ mode: 'local' });
    expect((await get(store.url, { 'x-client-id': template })).status).toBe(200);
    const before = metricValue(await metrics(store), 'kube_auth_upstream_requests_total', { kind: 'jwks' });
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 1000 }, () => get(store.url, { 'x-client-id': randomKidToken() }, 60_000)),
    );
    const elapsed = (Date.now() - started) / 1000;
    const fetches = metricValue(await metrics(store), 'kube_auth_upstream_requests_total', { kind: 'jwks' }) - before;
    const statuses = new Set(answers.map((a) => `HTTP ${a.status} ${a.reason ?? ''}`.trim()));
    record({
      kind: 'fault',
      name: F(FLOOD, '1,000 concurrent random kids over HTTP'),
      expected: `HTTP 403, ≤ 1 + elapsed/5 s key-set fetches (observed ${fetches})`,
      reason: 'key_not_found',
      expectedVerdict: 'reject',
      observedVerdict: answers.some((a) => a.status === 200) ? 'accept' : 'reject',
      observed: [...statuses].join(', '),
      inputs: 1000,
      mistakes: answers.filter((a) => a.status === 200).length,
    });
    expect([...statuses]).toEqual(['HTTP 403 key_not_found']);
    expect(fetches).toBeLessThanOrEqual(1 + Math.floor(elapsed / 5));
  });
});

describe('TokenReview: the API server slow, or refusing us (403)', () => {
  it('slow (past the time-out): tokenreview_unavailable (503), then recovers when it is fast again', async () => {
    const SLOW = 'TokenReview: API server slow';
    const [t1, t2, t3, t4] = await freshTokens(4);
    const reviewer = cluster.tokenReviewVerifier(cluster.reviewClient(cluster.reviewerToken, proxy.url), {
      timeoutMs: 500,
    });
    const store = await cluster.startStore({
      mode: 'tokenreview',
      server: proxy.url,
      env: { K8S_AUTH_TIMEOUT_MS: '500' },
    });
    proxy.delayMs = 2000;
    try {
      await expectRejected(
        F(SLOW, 'review takes longer than the time-out'),
        'tokenreview_unavailable',
        () => reviewer.verify(t1 as string),
        { kind: 'fault', expected: 'fails closed: 503' },
      );
      expectHttp(
        F(SLOW, 'review takes longer than the time-out'),
        await get(store.url, { 'x-client-id': t2 as string }),
        { status: 503, reason: 'tokenreview_unavailable' },
        { kind: 'fault' },
      );
    } finally {
      proxy.delayMs = 0;
    }
    await expectRecovers(SLOW, 'fast again', reviewer, t3 as string, store.url, t4 as string);
  });

  it('a timed-out review is aborted: open connections to a slow API server stay bounded (a client that ignores the abort piles them up)', async () => {
    const SLOW = 'TokenReview: API server slow';
    const tokens = await freshTokens(80);
    const waves = async (client: TokenReviewClient): Promise<{ open: number[]; codes: Set<string> }> => {
      const reviewer = cluster.tokenReviewVerifier(client, { timeoutMs: 300 });
      const open: number[] = [];
      const codes = new Set<string>();
      for (let wave = 0; wave < 4; wave++) {
        const outcomes = await Promise.all(tokens.splice(0, 10).map((t) => outcomeOf(() => reviewer.verify(t))));
        for (const o of outcomes) codes.add(o.verdict === 'reject' ? o.code : 'accepted');
        await new Promise((resolve) => setTimeout(resolve, 200));
        open.push(proxy.openConnections);
      }
      return { open, codes };
    };
    // Settle any connection left by earlier tests before measuring.
    await pollUntil(
      async () => proxy.openConnections,
      (n) => n === 0,
      15_000,
      100,
    );
    proxy.delayMs = 5000;
    try {
      const aborting = await waves(cluster.reviewClient(cluster.reviewerToken, proxy.url));
      await pollUntil(
        async () => proxy.openConnections,
        (n) => n === 0,
        15_000,
        100,
      );
      // The behaviour before issue 10: the race is lost, the request keeps running.
      const inner = cluster.reviewClient(cluster.reviewerToken, proxy.url);
      const ignoring = await waves({ createTokenReview: (review) => inner.createTokenReview(review) });
      record({
        kind: 'fault',
        name: F(SLOW, '40 reviews timing out in 4 waves: open connections'),
        expected: 'fails closed (503) and ≤ 2 connections left open after each wave',
        reason: 'tokenreview_unavailable',
        expectedVerdict: 'reject',
        observedVerdict: aborting.codes.has('accepted') ? 'accept' : 'reject',
        observed: `open after each wave: ${aborting.open.join(', ')} (a client ignoring the abort: ${ignoring.open.join(', ')})`,
        inputs: 40,
        mistakes: aborting.codes.has('accepted') ? 1 : 0,
      });
      measure(
        'slow API server: connections open after 40 timed-out reviews, aborting client',
        Math.max(...aborting.open),
        'connections',
      );
      measure(
        'slow API server: connections open after 40 timed-out reviews, client ignoring the abort',
        Math.max(...ignoring.open),
        'connections',
      );
      expect([...aborting.codes]).toEqual(['tokenreview_unavailable']);
      expect(Math.max(...aborting.open)).toBeLessThanOrEqual(2);
      expect(ignoring.open[ignoring.open.length - 1]).toBeGreaterThanOrEqual(30);
    } finally {
      proxy.delayMs = 0;
    }
    await pollUntil(
      async () => proxy.openConnections,
      (n) => n === 0,
      20_000,
      100,
    );
  });

  it('403 (the reviewer lacks system:auth-delegator): tokenreview_forbidden (503), recovered once the binding exists', async () => {
    const FORBIDDEN = 'TokenReview: forbidden (no system:auth-delegator)';
    const pod = await cluster.createPod('data-store', 'no-delegator', 'no-delegator');
    const weak = (
      await cluster.admin.requestToken({
        namespace: 'data-store',
        serviceAccount: 'no-delegator',
        expirationSeconds: 3600,
        pod,
      })
    ).token;
    const reviewer = cluster.tokenReviewVerifier(cluster.reviewClient(weak));
    const store = await cluster.startStore({ mode: 'tokenreview', serviceAccount: 'no-delegator' });
    const [t1, t2] = await freshTokens(2);
    await expectRejected(
      F(FORBIDDEN, 'TokenReview mode'),
      'tokenreview_forbidden',
      () => reviewer.verify(t1 as string),
      { kind: 'fault', expected: 'fails closed: 503' },
    );
    expectHttp(
      F(FORBIDDEN, 'TokenReview mode'),
      await get(store.url, { 'x-client-id': t2 as string }),
      { status: 503, reason: 'tokenreview_forbidden' },
      { kind: 'fault' },
    );
    await cluster.admin.bindAuthDelegator('data-store', 'no-delegator', 'late-tokenreview-binding');
    await expectRecovers(FORBIDDEN, 'binding added', reviewer, t1 as string, store.url, t2 as string);
  });
});

describe('TokenReview mode under a flood of distinct forged tokens', () => {
  const FORGED = 'TokenReview mode: forged-token flood';
  /** Real claims and the real kid, each with its own jti (no cache answers twice), signed by the attacker's key. */
  async function forgedTokens(n: number): Promise<string[]> {
    const template = await cluster.claims();
    const { kid } = await cluster.signingKey();
    return Array.from({ length: n }, () =>
      signCompact(
        { alg: 'RS256', kid },
        { ...template, jti: randomBytes(12).toString('hex') },
        'RS256',
        attacker.rsa.privateKey,
      ),
    );
  }

  it('with the offline pre-check: 10,000 forged tokens cause 0 TokenReviews; review only: one each', async () => {
    const client = cluster.reviewClient();
    const precheck = cluster.localVerifier();
    const verifier = new ServiceAccountVerifier({
      mode: 'tokenreview',
      local: precheck.verifier,
      tokenReview: cluster.tokenReviewVerifier(client),
    });
    const tokens = await forgedTokens(10_000);
    const codes = new Set<string>();
    let accepted = 0;
    for (let i = 0; i < tokens.length; i += 500) {
      const outcomes = await Promise.all(tokens.slice(i, i + 500).map((t) => outcomeOf(() => verifier.verify(t))));
      for (const o of outcomes) {
        if (o.verdict === 'accept') accepted++;
        else codes.add(o.code);
      }
    }
    // Before issue 10 (no pre-check), each forged token was one TokenReview: shown on a sample of 200.
    const bare = cluster.reviewClient();
    const reviewOnly = new ServiceAccountVerifier({
      mode: 'tokenreview',
      tokenReview: cluster.tokenReviewVerifier(bare),
    });
    const sample = [];
    // In batches of 50: under the default cap of 100 reviews in flight.
    for (let i = 0; i < 200; i += 50)
      sample.push(...(await Promise.all(tokens.slice(i, i + 50).map((t) => outcomeOf(() => reviewOnly.verify(t))))));
    record({
      kind: 'fault',
      name: F(FORGED, '10,000 distinct forged tokens, pre-check on'),
      expected: `all refused, 0 TokenReviews (observed ${client.count}; review only: ${bare.count} for 200)`,
      reason: 'signature_invalid',
      expectedVerdict: 'reject',
      observedVerdict: accepted ? 'accept' : 'reject',
      observed: [...codes].join(', '),
      inputs: 10_000,
      mistakes: accepted,
    });
    measure('forged-token flood: TokenReviews for 10,000 forged tokens, pre-check on', client.count, 'reviews');
    measure('forged-token flood: TokenReviews for 200 forged tokens, review only', bare.count, 'reviews');
    measure('forged-token flood: accepted of 10,000 forged tokens, pre-check on', accepted, 'tokens');
    measure(
      'forged-token flood: refused of 200 forged tokens, review only',
      sample.filter((o) => o.verdict === 'reject').length,
      'tokens',
    );
    console.log(
      `[faults] forged-token flood: pre-check on: ${client.count} TokenReviews for ${tokens.length} forged tokens, ${accepted} accepted (${[...codes].join(', ')}); ` +
        `review only: ${bare.count} TokenReviews for ${sample.length}, ${sample.filter((o) => o.verdict === 'reject').length} refused`,
    );
    expect(accepted).toBe(0);
    expect([...codes]).toEqual(['signature_invalid']);
    expect(client.count).toBe(0);
    expect(sample.every((o) => o.verdict === 'reject' && o.code === 'tokenreview_rejected')).toBe(true);
    expect(bare.count).toBe(200);
    // The pre-check costs valid callers nothing but its check: one review, accepted.
    await expectAccepted(
      F(FORGED, 'valid token with the pre-check on: one review, accepted'),
      async () => verifier.verify(await cluster.token()),
      { kind: 'fault' },
    );
    expect(client.count).toBe(1);
  });

  it('in-flight cap: a slow API server sees at most maxInflight reviews; the rest is tokenreview_overloaded (503) at once', async () => {
    const client = cluster.reviewClient(cluster.reviewerToken, proxy.url);
    const reviewer = cluster.tokenReviewVerifier(client, { maxInflight: 20, timeoutMs: 3000 });
    const tokens = await forgedTokens(200);
    proxy.delayMs = 1000;
    try {
      const outcomes = await Promise.all(tokens.map((t) => outcomeOf(() => reviewer.verify(t))));
      const counts = new Map<string, number>();
      for (const o of outcomes)
        counts.set(
          o.verdict === 'accept' ? 'accepted' : o.code,
          (counts.get(o.verdict === 'accept' ? 'accepted' : o.code) ?? 0) + 1,
        );
      record({
        kind: 'fault',
        name: F(FORGED, '200 concurrent distinct tokens, cap 20, API server slow'),
        expected: `≤ 20 TokenReviews (observed ${client.count}), the rest tokenreview_overloaded`,
        reason: 'tokenreview_overloaded, tokenreview_rejected',
        expectedVerdict: 'reject',
        observedVerdict: counts.has('accepted') ? 'accept' : 'reject',
        observed: [...counts].map(([k, v]) => `${k} ${v}`).join(', '),
        inputs: 200,
        mistakes: counts.get('accepted') ?? 0,
      });
      expect(client.count).toBe(20);
      expect(counts.get('tokenreview_overloaded')).toBe(180);
      expect(counts.has('accepted')).toBe(false);
    } finally {
      proxy.delayMs = 0;
    }
  });

  it('review only: valid callers stay cached among 1,000 distinct rejected tokens (one TokenReview each), and the cache holds at most its two bounds', async () => {
    // Review only, so every distinct forged token reaches the real API server and is rejected there. Rejections have a
    // bound of their own (200, far below the flood): were they counted with the successes, they would crowd the valid
    // callers out and each caller would be reviewed again and again.
    const callers = 20;
    const rounds = 20;
    const perRound = 50;
    const successBound = callers + 1; // room for one caller who arrives after the flood
    const rejectionBound = 200;
    const valid = await freshTokens(callers);
    const late = await cluster.token();
    const validSet = new Set([...valid, late]);
    const forged = await forgedTokens(rounds * perRound);
    const inner = cluster.reviewClient();
    let validReviews = 0;
    let rejectedReviews = 0;
    const client: TokenReviewClient = {
      createTokenReview(review, options) {
        if (validSet.has(review.spec.token ?? '')) validReviews++;
        else rejectedReviews++;
        return inner.createTokenReview(review, options);
      },
    };
    const reviewer = cluster.tokenReviewVerifier(client, {
      cacheTtlSeconds: 300,
      cacheMaxEntries: successBound,
      negativeCacheTtlSeconds: 300,
      negativeCacheMaxEntries: rejectionBound,
      // This test is about the caches: the in-flight cap (tested above) and the time-out must not refuse anyone here.
      maxInflight: perRound + callers,
      timeoutMs: 30_000,
    });
    const verifier = new ServiceAccountVerifier({ mode: 'tokenreview', tokenReview: reviewer });
    const forgedCodes = new Set<string>();
    const validRefusals: string[] = [];
    let forgedAccepted = 0;
    let validRequests = 0;
    for (let round = 0; round < rounds; round++) {
      const batch = forged.slice(round * perRound, (round + 1) * perRound);
      const [forgedOutcomes, validOutcomes] = await Promise.all([
        Promise.all(batch.map((t) => outcomeOf(() => verifier.verify(t)))),
        Promise.all(valid.map((t) => outcomeOf(() => verifier.verify(t)))),
      ]);
      for (const o of forgedOutcomes) {
        if (o.verdict === 'accept') forgedAccepted++;
        else forgedCodes.add(o.code);
      }
      validRequests += validOutcomes.length;
      for (const o of validOutcomes) if (o.verdict === 'reject') validRefusals.push(o.code);
    }
    const callerReviews = validReviews;
    const hitRate = 1 - callerReviews / validRequests;
    const held = reviewer.cacheSize;
    // A caller who arrives after the flood filled the rejection pool is still cached: 5 requests, 1 review.
    for (let i = 0; i < 5; i++) {
      const o = await outcomeOf(() => verifier.verify(late));
      if (o.verdict === 'reject') validRefusals.push(o.code);
    }
    const lateReviews = validReviews - callerReviews;
    const line =
      `${callers} valid callers × ${rounds} rounds among ${forged.length} distinct rejected tokens: ${callerReviews} TokenReviews ` +
      `for the callers (hit rate ${(hitRate * 100).toFixed(1)}%), ${rejectedReviews} for the rejected tokens, ${held} entries held ` +
      `(bounds ${successBound} + ${rejectionBound}), ${validRefusals.length} valid refused; late caller: ${lateReviews} review for 5 requests`;
    console.log(`[faults] rejection flood: ${line}`);
    record({
      kind: 'fault',
      name: F(FORGED, `${forged.length} distinct rejected tokens among ${callers} valid callers, review only`),
      expected: `forged all refused; valid all accepted with ≤ ${callers} + 2 TokenReviews; cache ≤ ${successBound} + ${rejectionBound} entries`,
      reason: 'tokenreview_rejected',
      expectedVerdict: 'reject',
      observedVerdict: forgedAccepted ? 'accept' : 'reject',
      observed: line,
      inputs: forged.length,
      mistakes: forgedAccepted,
    });
    measure(
      'rejection flood: TokenReviews for 20 valid callers × 20 rounds among 1,000 rejected tokens',
      callerReviews,
      'reviews',
    );
    measure('rejection flood: cache hit rate of the valid callers', Number((hitRate * 100).toFixed(1)), '%');
    measure('rejection flood: TokenReviews for the 1,000 rejected tokens', rejectedReviews, 'reviews');
    measure(`rejection flood: review-cache entries held (bounds ${successBound} + ${rejectionBound})`, held, 'entries');
    measure('rejection flood: valid requests refused', validRefusals.length, 'requests');
    expect(forgedAccepted).toBe(0);
    expect([...forgedCodes]).toEqual(['tokenreview_rejected']);
    expect(validRefusals).toEqual([]);
    expect(callerReviews).toBeGreaterThanOrEqual(callers);
    expect(callerReviews).toBeLessThanOrEqual(callers + 2);
    expect(rejectedReviews).toBe(forged.length);
    expect(held).toBeLessThanOrEqual(successBound + rejectionBound);
    expect(lateReviews).toBe(1);
  });

  it('over HTTP: the data store in tokenreview mode answers forged tokens 403 signature_invalid with 0 TokenReviews', async () => {
    const store = await cluster.startStore({ mode: 'tokenreview' });
    expect((await get(store.url, { 'x-client-id': await cluster.token() })).status).toBe(200);
    const before = metricValue(await metrics(store), 'kube_auth_upstream_requests_total', { kind: 'token_review' });
    const answers = await Promise.all(
      (await forgedTokens(500)).map((t) => get(store.url, { 'x-client-id': t }, 60_000)),
    );
    const reviews =
      metricValue(await metrics(store), 'kube_auth_upstream_requests_total', { kind: 'token_review' }) - before;
    const statuses = new Set(answers.map((a) => `HTTP ${a.status} ${a.reason ?? ''}`.trim()));
    record({
      kind: 'fault',
      name: F(FORGED, '500 forged tokens over HTTP'),
      expected: `HTTP 403, 0 TokenReviews (observed ${reviews})`,
      reason: 'signature_invalid',
      expectedVerdict: 'reject',
      observedVerdict: answers.some((a) => a.status === 200) ? 'accept' : 'reject',
      observed: [...statuses].join(', '),
      inputs: 500,
      mistakes: answers.filter((a) => a.status === 200).length,
    });
    expect([...statuses]).toEqual(['HTTP 403 signature_invalid']);
    expect(reviews).toBe(0);
  });
});

describe('concurrency: 1,000 concurrent verifications of one new token, cold caches', () => {
  const CONC = 'concurrency: 1,000 requests with one new token';

  it('local mode: exactly one key-set fetch (discovery + JWKS), all accepted', async () => {
    const token = await cluster.token();
    const fresh = cluster.localVerifier();
    const outcomes = await Promise.all(
      Array.from({ length: 1000 }, () => outcomeOf(() => fresh.verifier.verify(token))),
    );
    const accepted = outcomes.filter((o) => o.verdict === 'accept').length;
    record({
      kind: 'fault',
      name: F(CONC, 'local mode'),
      expected: `all accepted, 1 key-set fetch (observed ${fresh.fetches()})`,
      reason: '—',
      expectedVerdict: 'accept',
      observedVerdict: accepted === 1000 ? 'accept' : 'reject',
      observed: `${accepted} accepted`,
      inputs: 1000,
    });
    expect(accepted).toBe(1000);
    expect(fresh.fetches()).toBe(1);
    expect(fresh.net.urls).toHaveLength(2);
  });

  it('TokenReview mode: exactly one TokenReview, all accepted', async () => {
    const token = await cluster.token();
    const client = cluster.reviewClient();
    const reviewer = cluster.tokenReviewVerifier(client);
    const outcomes = await Promise.all(Array.from({ length: 1000 }, () => outcomeOf(() => reviewer.verify(token))));
    const accepted = outcomes.filter((o) => o.verdict === 'accept').length;
    record({
      kind: 'fault',
      name: F(CONC, 'TokenReview mode'),
      expected: `all accepted, 1 TokenReview (observed ${client.count})`,
      reason: '—',
      expectedVerdict: 'accept',
      observedVerdict: accepted === 1000 ? 'accept' : 'reject',
      observed: `${accepted} accepted`,
      inputs: 1000,
    });
    expect(accepted).toBe(1000);
    expect(client.count).toBe(1);
  });

  it('revocation-sensitive verify in local mode: one key-set fetch and one TokenReview', async () => {
    const token = await cluster.token();
    const fresh = cluster.localVerifier();
    const client = cluster.reviewClient();
    const verifier = new ServiceAccountVerifier({
      mode: 'local',
      local: fresh.verifier,
      tokenReview: cluster.tokenReviewVerifier(client),
    });
    const outcomes = await Promise.all(
      Array.from({ length: 1000 }, () => outcomeOf(() => verifier.verify(token, { revocationSensitive: true }))),
    );
    const accepted = outcomes.filter((o) => o.verdict === 'accept').length;
    record({
      kind: 'fault',
      name: F(CONC, 'revocation-sensitive verify'),
      expected: `all accepted, 1 key-set fetch and 1 TokenReview (observed ${fresh.fetches()} and ${client.count})`,
      reason: '—',
      expectedVerdict: 'accept',
      observedVerdict: accepted === 1000 ? 'accept' : 'reject',
      observed: `${accepted} accepted`,
      inputs: 1000,
    });
    expect(accepted).toBe(1000);
    expect(fresh.fetches()).toBe(1);
    expect(client.count).toBe(1);
  });

  it('over HTTP, fresh data stores: one key-set fetch and one TokenReview for 1,000 concurrent requests', async () => {
    const [local, reviewing] = await Promise.all([
      cluster.startStore({ mode: 'local' }),
      cluster.startStore({ mode: 'tokenreview' }),
    ]);
    for (const [name, url, store] of [
      ['over HTTP, /sensitive in local mode', `${local.url}sensitive`, local],
      ['over HTTP, TokenReview mode', reviewing.url, reviewing],
    ] as const) {
      const token = await cluster.token();
      const answers = await Promise.all(Array.from({ length: 1000 }, () => get(url, { 'x-client-id': token }, 60_000)));
      const ok = answers.filter((a) => a.status === 200).length;
      const text = await metrics(store);
      const jwks = metricValue(text, 'kube_auth_upstream_requests_total', { kind: 'jwks' });
      const reviews = metricValue(text, 'kube_auth_upstream_requests_total', { kind: 'token_review' });
      record({
        kind: 'fault',
        name: F(CONC, name),
        expected: `all 200, 1 key-set fetch and 1 TokenReview (observed ${jwks} and ${reviews})`,
        reason: '—',
        expectedVerdict: 'accept',
        observedVerdict: ok === 1000 ? 'accept' : 'reject',
        observed: `${ok} × HTTP 200`,
        inputs: 1000,
      });
      expect(ok).toBe(1000);
      // TokenReview mode fetches the key set too: its offline pre-check.
      expect(jwks).toBe(1);
      expect(reviews).toBe(1);
    }
  });
});

describe('after every fault', () => {
  it('every data store started in this file is still running and healthy', async () => {
    for (const store of cluster.stores) expect((await get(`${store.url}healthz`)).status, store.name).toBe(200);
  });
});
