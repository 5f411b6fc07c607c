import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BoundObjectWatch } from './bound-object-watch.js';
import { LocalVerifier } from '../authn/local-verifier.js';
import { RevocationChecker } from './revocation-checker.js';
import {
  AUDIENCE,
  fakeClock,
  FakeIssuer,
  FakeTokenReviewClient,
  generateTestKey,
  ISSUER,
  reasonOf,
  signToken,
  T0,
  type TestKey,
} from '../../test/fake-issuer.js';
import { FakeMetadataServer } from '../../test/fake-metadata-server.js';
import { TokenReviewVerifier } from '../authn/token-review.js';
import { ServiceAccountVerifier } from '../authn/service-account-verifier.js';
import { WatchRevocationVerifier } from './watch-verifier.js';

const PODS = '/api/v1/namespaces/api/pods';
const SAS = '/api/v1/namespaces/api/serviceaccounts';
const POD = { name: 'api-7d4b9c-x2x9z', uid: 'pod-uid-1' };

let key: TestKey;
beforeAll(async () => {
  key = await generateTestKey('RS256');
});

let watches: BoundObjectWatch[] = [];
afterEach(() => {
  for (const w of watches) w.stop();
  watches = [];
});

async function setup(options: { fallback?: boolean; shouldCheck?: (ns: string) => boolean } = {}) {
  const time = fakeClock(T0 + 10_000);
  const issuer = new FakeIssuer({ keys: [key] });
  const server = new FakeMetadataServer();
  server.create(SAS, 'api', { uid: 'sa-uid-api-api' });
  server.create(PODS, POD.name, { uid: POD.uid });
  const watch = new BoundObjectWatch({ client: server, namespaces: ['api'], clock: time.clock });
  watches.push(watch);
  await watch.start().waitForSync();
  const reviews = new FakeTokenReviewClient();
  const local = new LocalVerifier({
    issuers: [ISSUER],
    audience: AUDIENCE,
    fetch: issuer.fetch,
    clock: time.clock,
    cacheTtlSeconds: 10,
  });
  const verifier = new WatchRevocationVerifier({
    verifier: new ServiceAccountVerifier({ mode: 'local', local }),
    checker: new RevocationChecker({ watch, clock: time.clock }),
    fallback:
      options.fallback === false
        ? undefined
        : new TokenReviewVerifier({ client: reviews, audience: AUDIENCE, clock: time.clock }),
    shouldCheck: options.shouldCheck
      ? (identity) => (options.shouldCheck as (ns: string) => boolean)(identity.namespace)
      : undefined,
  });
  return { time, server, watch, reviews, verifier, token: await signToken(key) };
}

describe('WatchRevocationVerifier', () => {
  it('accepts a token whose pod and ServiceAccount the watch holds, on every route, with no API call', async () => {
    const { verifier, token, server, reviews } = await setup();
    expect(await verifier.verify(token)).toMatchObject({ pod: POD, verifiedBy: 'local' });
    expect(await verifier.verify(token, { revocationSensitive: true })).toMatchObject({ verifiedBy: 'local' });
    expect(server.calls.get + reviews.requests.length).toBe(0);
  });

  it('refuses the token of a deleted pod as token_revoked, even while the verified-token cache still holds it', async () => {
    const { verifier, token, server } = await setup();
    await verifier.verify(token);
    server.remove(PODS, POD.name);
    expect(await reasonOf(() => verifier.verify(token))).toBe('token_revoked');
  });

  it('falls back to TokenReview when the watch cannot judge (stale), and refuses as unavailable without a fallback', async () => {
    const withFallback = await setup();
    withFallback.server.down = true;
    withFallback.server.breakWatches();
    await new Promise((r) => setTimeout(r, 20));
    withFallback.time.advance(11);
    expect(withFallback.verifier.ready).toBe(false);
    expect(await withFallback.verifier.verify(withFallback.token)).toMatchObject({ verifiedBy: 'tokenreview' });
    expect(withFallback.reviews.requests).toHaveLength(1);

    const without = await setup({ fallback: false });
    without.server.down = true;
    without.server.breakWatches();
    await new Promise((r) => setTimeout(r, 20));
    without.time.advance(11);
    expect(await reasonOf(() => without.verifier.verify(without.token))).toBe('revocation_unavailable');
  });

  it('skips the check for callers the policy refuses anyway, so they cost no API call', async () => {
    const { verifier, server, reviews } = await setup({ shouldCheck: (ns) => ns === 'api' });
    const outsider = await signToken(key, { namespace: 'other' });
    expect(await verifier.verify(outsider)).toMatchObject({ namespace: 'other' });
    expect(server.calls.get + reviews.requests.length).toBe(0);
  });

  it('sends a token from a namespace it does not watch to TokenReview when the policy admits it', async () => {
    const { verifier, reviews } = await setup();
    await verifier.verify(await signToken(key, { namespace: 'other' }));
    expect(reviews.requests).toHaveLength(1);
  });

  it('leaves a Secret-bound token to TokenReview: the watch does not follow Secrets', async () => {
    const { verifier, reviews } = await setup();
    const secretBound = await signToken(key, {
      pod: null,
      node: null,
      claims: {
        'kubernetes.io': {
          namespace: 'api',
          serviceaccount: { name: 'api', uid: 'sa-uid-api-api' },
          secret: { name: 'api-token', uid: 'secret-uid' },
        },
      },
    });
    expect(await verifier.verify(secretBound)).toMatchObject({ verifiedBy: 'tokenreview' });
    expect(reviews.requests).toHaveLength(1);
  });
});
