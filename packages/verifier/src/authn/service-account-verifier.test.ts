import { beforeAll, describe, expect, it } from 'vitest';
import { LocalVerifier } from './local-verifier.js';
import {
  AUDIENCE,
  craftToken,
  fakeClock,
  FakeIssuer,
  FakeTokenReviewClient,
  generateTestKey,
  ISSUER,
  kubernetesClaims,
  reasonOf,
  reviewStatusFor,
  signToken,
  type TestKey,
} from '../../test/fake-issuer.js';
import { TokenReviewVerifier } from './token-review.js';
import { ServiceAccountVerifier } from './service-account-verifier.js';

let rsa: TestKey;
let impostor: TestKey;

beforeAll(async () => {
  rsa = await generateTestKey('RS256', 'rsa-1');
  impostor = await generateTestKey('RS256', 'rsa-1');
});

function setup(options: { withTokenReview?: boolean } = {}) {
  const time = fakeClock();
  const issuer = new FakeIssuer({ keys: [rsa] });
  const client = new FakeTokenReviewClient();
  const local = new LocalVerifier({ issuers: [ISSUER], audience: AUDIENCE, fetch: issuer.fetch, clock: time.clock });
  const tokenReview =
    options.withTokenReview === false
      ? undefined
      : new TokenReviewVerifier({ client, audience: AUDIENCE, clock: time.clock });
  return { time, issuer, client, local, tokenReview };
}

describe('ServiceAccountVerifier: tokenreview mode', () => {
  it('delegates every token to TokenReview', async () => {
    const { client, tokenReview, issuer } = setup();
    const verifier = new ServiceAccountVerifier({ mode: 'tokenreview', tokenReview });
    const identity = await verifier.verify(await signToken(rsa));
    expect(identity.verifiedBy).toBe('tokenreview');
    expect(client.requests).toHaveLength(1);
    expect(issuer.calls).toEqual([]);
  });

  it('passes TokenReview rejections through', async () => {
    const { client, tokenReview } = setup();
    client.answer = async () => ({ authenticated: false });
    const verifier = new ServiceAccountVerifier({ mode: 'tokenreview', tokenReview });
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa)))).toBe('tokenreview_rejected');
  });

  it('throws at construction without a TokenReviewVerifier', () => {
    const { local } = setup();
    expect(() => new ServiceAccountVerifier({ mode: 'tokenreview', local })).toThrow();
  });
});

describe('ServiceAccountVerifier: local mode', () => {
  it('verifies offline and sends no TokenReview for ordinary routes', async () => {
    const { client, local, tokenReview } = setup();
    const verifier = new ServiceAccountVerifier({ mode: 'local', local, tokenReview });
    expect((await verifier.verify(await signToken(rsa))).verifiedBy).toBe('local');
    expect(client.requests).toEqual([]);
  });

  it('throws at construction without a LocalVerifier', () => {
    const { tokenReview } = setup();
    expect(() => new ServiceAccountVerifier({ mode: 'local', tokenReview })).toThrow();
  });
});

describe('ServiceAccountVerifier: revocation-sensitive routes in local mode', () => {
  it('confirms a locally valid token with TokenReview and reports it as verified by tokenreview', async () => {
    const { client, local, tokenReview } = setup();
    client.answer = async (review) => {
      const status = reviewStatusFor(review.spec.token ?? '');
      return { ...status, user: { ...status.user, groups: ['system:serviceaccounts', 'from-the-api-server'] } };
    };
    const verifier = new ServiceAccountVerifier({ mode: 'local', local, tokenReview });
    const identity = await verifier.verify(await signToken(rsa), { revocationSensitive: true });
    expect(client.requests).toHaveLength(1);
    expect(identity).toMatchObject({
      username: 'system:serviceaccount:api:api',
      pod: { name: 'api-7d4b9c-x2x9z', uid: 'pod-uid-1' },
      groups: ['system:serviceaccounts', 'from-the-api-server'],
      verifiedBy: 'tokenreview',
    });
  });

  it('verifies locally first: a token with a bad signature never reaches TokenReview', async () => {
    const { client, local, tokenReview } = setup();
    const verifier = new ServiceAccountVerifier({ mode: 'local', local, tokenReview });
    expect(await reasonOf(async () => verifier.verify(await signToken(impostor), { revocationSensitive: true }))).toBe(
      'signature_invalid',
    );
    expect(client.requests).toEqual([]);
  });

  it('verifies locally first: a malformed token never reaches TokenReview', async () => {
    const { client, local, tokenReview } = setup();
    const verifier = new ServiceAccountVerifier({ mode: 'local', local, tokenReview });
    const garbage = craftToken({ alg: 'RS256', kid: 'rsa-1' }, [kubernetesClaims()]);
    expect(await reasonOf(() => verifier.verify(garbage, { revocationSensitive: true }))).toBe('token_malformed');
    expect(client.requests).toEqual([]);
  });

  it('rejects a token whose pod is gone (TokenReview says unauthenticated) with tokenreview_rejected', async () => {
    const { client, local, tokenReview } = setup();
    client.answer = async () => ({ authenticated: false, error: 'pod "api-7d4b9c-x2x9z" not found' });
    const verifier = new ServiceAccountVerifier({ mode: 'local', local, tokenReview });
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa), { revocationSensitive: true }))).toBe(
      'tokenreview_rejected',
    );
  });

  it.each([
    [
      'another pod uid',
      (s: ReturnType<typeof reviewStatusFor>) => {
        s.user = {
          ...s.user,
          extra: { ...s.user?.extra, 'authentication.kubernetes.io/pod-uid': ['pod-uid-recreated'] },
        };
      },
    ],
    [
      'another ServiceAccount uid',
      (s: ReturnType<typeof reviewStatusFor>) => {
        s.user = { ...s.user, uid: 'sa-uid-recreated' };
      },
    ],
    [
      'another user name',
      (s: ReturnType<typeof reviewStatusFor>) => {
        s.user = { ...s.user, username: 'system:serviceaccount:api:other' };
      },
    ],
  ])('rejects a review that describes %s than the token with tokenreview_rejected', async (_name, change) => {
    const { client, local, tokenReview } = setup();
    client.answer = async (review) => {
      const status = reviewStatusFor(review.spec.token ?? '');
      change(status);
      return status;
    };
    const verifier = new ServiceAccountVerifier({ mode: 'local', local, tokenReview });
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa), { revocationSensitive: true }))).toBe(
      'tokenreview_rejected',
    );
  });

  it('fails with tokenreview_unavailable when the API server cannot be reached', async () => {
    const { client, local, tokenReview } = setup();
    client.answer = () => Promise.reject(new Error('connect ECONNREFUSED'));
    const verifier = new ServiceAccountVerifier({ mode: 'local', local, tokenReview });
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa), { revocationSensitive: true }))).toBe(
      'tokenreview_unavailable',
    );
  });

  it('fails with tokenreview_unavailable when no TokenReview is configured', async () => {
    const { local } = setup({ withTokenReview: false });
    const verifier = new ServiceAccountVerifier({ mode: 'local', local });
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa), { revocationSensitive: true }))).toBe(
      'tokenreview_unavailable',
    );
  });
});

describe('ServiceAccountVerifier: tokenreview mode with the offline pre-check', () => {
  it('refuses a forgery, an expired token and a wrong audience offline: no TokenReview is sent', async () => {
    const { client, tokenReview, local } = setup();
    const verifier = new ServiceAccountVerifier({ mode: 'tokenreview', local, tokenReview });
    expect(await reasonOf(async () => verifier.verify(await signToken(impostor)))).toBe('signature_invalid');
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa, { audience: ['other'] })))).toBe(
      'audience_mismatch',
    );
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa, { issuedAt: Date.UTC(2020, 0, 1) })))).toBe(
      'token_expired',
    );
    expect(client.requests).toHaveLength(0);
  });

  it('lets the review decide for a token that passes: a rejection by the API server stands', async () => {
    const { client, tokenReview, local } = setup();
    const verifier = new ServiceAccountVerifier({ mode: 'tokenreview', local, tokenReview });
    client.answer = async () => ({ authenticated: false, error: 'pod not found' });
    expect(await reasonOf(async () => verifier.verify(await signToken(rsa)))).toBe('tokenreview_rejected');
    expect(client.requests).toHaveLength(1);
  });

  it('returns the reviewed identity for a valid token', async () => {
    const { client, tokenReview, local } = setup();
    const verifier = new ServiceAccountVerifier({ mode: 'tokenreview', local, tokenReview });
    const identity = await verifier.verify(await signToken(rsa));
    expect(identity).toMatchObject({ username: 'system:serviceaccount:api:api', verifiedBy: 'tokenreview' });
    expect(client.requests).toHaveLength(1);
  });

  it('when the keys cannot be had (jwks_unavailable; issuer_misconfigured alike), the review alone decides', async () => {
    const { client, tokenReview, issuer } = setup();
    issuer.mode = 'refused';
    const time = fakeClock();
    const local = new LocalVerifier({ issuers: [ISSUER], audience: AUDIENCE, fetch: issuer.fetch, clock: time.clock });
    const verifier = new ServiceAccountVerifier({ mode: 'tokenreview', local, tokenReview });
    expect((await verifier.verify(await signToken(rsa))).verifiedBy).toBe('tokenreview');
    expect(client.requests).toHaveLength(1);
  });
});

describe('one Verifier interface: what each verifier can confirm', () => {
  it('LocalVerifier cannot confirm revocation: requireReview throws, a revocation-sensitive call is refused', async () => {
    const { local, client } = setup();
    expect(local.canReview).toBe(false);
    expect(() => local.requireReview()).toThrow(/cannot see a deleted pod/);
    expect(await reasonOf(async () => local.verify(await signToken(rsa), { revocationSensitive: true }))).toBe(
      'tokenreview_unavailable',
    );
    expect((await local.verify(await signToken(rsa))).verifiedBy).toBe('local');
    expect(client.requests).toEqual([]);
  });

  it('TokenReviewVerifier confirms every call; ServiceAccountVerifier confirms only with a TokenReviewVerifier', () => {
    const { local, tokenReview } = setup();
    expect(tokenReview?.canReview).toBe(true);
    expect(() => tokenReview?.requireReview()).not.toThrow();
    expect(new ServiceAccountVerifier({ mode: 'local', local, tokenReview }).canReview).toBe(true);
    const offline = new ServiceAccountVerifier({ mode: 'local', local });
    expect(offline.canReview).toBe(false);
    expect(() => offline.requireReview()).toThrow(TypeError);
    const explained = new ServiceAccountVerifier({ mode: 'local', local, reviewUnavailable: new Error('set X') });
    expect(() => explained.requireReview()).toThrow('set X');
  });
});
