import { describe, expect, it } from 'vitest';
import { KubeAuthError } from '../errors.js';
import {
  acceptedAudiences,
  cacheUntil,
  checkBinding,
  identityFromClaims,
  identityFromReview,
  identityToUserInfo,
  sameCaller,
  type ServiceAccountIdentity,
} from './identity.js';
import { AUDIENCE, kubernetesClaims, T0, type TokenSpec } from '../../test/fake-issuer.js';

const claims = (spec: TokenSpec = {}) => kubernetesClaims(spec) as Record<string, unknown>;
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof KubeAuthError) return `${err.code}${err.claim ? `:${err.claim}` : ''}`;
    throw err;
  }
  return 'accepted';
};

/** What the API server reports for a token whose claims are `payload`: the inverse direction of the model. */
function reviewOf(payload: Record<string, unknown>, audiences: string[] = [AUDIENCE]) {
  return { authenticated: true, user: identityToUserInfo(identityFromClaims(payload, audiences)), audiences };
}

describe('identity model: claims → identity', () => {
  it('reads a pod-bound token with its node', () => {
    expect(identityFromClaims(claims(), [AUDIENCE])).toEqual({
      username: 'system:serviceaccount:api:api',
      namespace: 'api',
      serviceAccount: { name: 'api', uid: 'sa-uid-api-api' },
      pod: { name: 'api-7d4b9c-x2x9z', uid: 'pod-uid-1' },
      node: { name: 'node-1', uid: 'node-uid-1' },
      groups: ['system:serviceaccounts', 'system:serviceaccounts:api', 'system:authenticated'],
      audiences: [AUDIENCE],
      issuer: 'https://kubernetes.default.svc.cluster.local',
      credentialId: 'jti-0b1c2d3e',
      issuedAt: new Date(T0),
      expiresAt: new Date(T0 + 600_000),
      verifiedBy: 'local',
    });
  });

  it('normalises the audience: configured ones the token names, in configuration order; none is audience_mismatch', () => {
    expect(identityFromClaims(claims({ audience: ['b', 'a'] }), ['a', 'x', 'b']).audiences).toEqual(['a', 'b']);
    expect(identityFromClaims(claims({ claims: { aud: 'a' } }), ['a']).audiences).toEqual(['a']);
    expect(code(() => identityFromClaims(claims({ audience: ['other'] }), [AUDIENCE]))).toBe('audience_mismatch:aud');
    expect(acceptedAudiences(['a'], undefined)).toEqual([]);
  });

  it('refuses inconsistent claims with claim_invalid', () => {
    expect(
      code(() => identityFromClaims(claims({ claims: { sub: 'system:serviceaccount:api:other' } }), [AUDIENCE])),
    ).toBe('claim_invalid:sub');
    expect(code(() => identityFromClaims(claims({ claims: { 'kubernetes.io': undefined } }), [AUDIENCE]))).toBe(
      'claim_invalid:kubernetes.io',
    );
    expect(code(() => identityFromClaims(claims({ pod: { name: 'p', uid: '' } }), [AUDIENCE]))).toBe(
      'claim_invalid:kubernetes.io',
    );
  });

  it('requires sub to name exactly the namespace and ServiceAccount of kubernetes.io, part by part', () => {
    const withSub = (sub: unknown) => code(() => identityFromClaims(claims({ claims: { sub } }), [AUDIENCE]));
    // kubernetes.io names namespace `api`, ServiceAccount `api`.
    expect(withSub('system:serviceaccount:api:api')).toBe('accepted');
    for (const sub of [
      'system:serviceaccount:ap:iapi', // same length, the colon elsewhere
      'system:serviceaccount:apia:pi', // same length, parts shifted the other way
      'system:serviceaccount:api:apx', // same length, name differs in its last character
      'system:serviceaccount:apx:api', // same length, namespace differs
      'system:serviceaccount:api:api2',
      'system:serviceaccount:api2:api',
      'system:serviceaccounx:api:api',
      'system:serviceaccount:api:api:api',
      'system:serviceaccount:api',
      'system:serviceaccount::api',
      'system:serviceaccount:api:',
      42,
      undefined,
    ]) {
      expect(withSub(sub), String(sub)).toBe('claim_invalid:sub');
    }
  });
});

describe('identity model: a subject checked once', () => {
  // The checks of sub, namespace and ServiceAccount name are remembered per sub (identity.ts); a remembered subject
  // must never let claims through that the checks would refuse, before or after the memo is emptied.
  const variants = (namespace: string, name: string) => {
    const sub = `system:serviceaccount:${namespace}:${name}`;
    const k8s = (over: Record<string, unknown>) => ({
      claims: {
        sub,
        'kubernetes.io': {
          namespace,
          serviceaccount: { name, uid: `sa-uid-${namespace}-${name}` },
          pod: { name: 'p', uid: 'pod-uid' },
          ...over,
        },
      },
    });
    return {
      valid: claims({ namespace, serviceAccount: name }),
      otherNamespace: claims(k8s({ namespace: 'other' })),
      otherName: claims(k8s({ serviceaccount: { name: 'other', uid: 'u' } })),
      noUid: claims(k8s({ serviceaccount: { name } })),
      noServiceAccount: claims(k8s({ serviceaccount: undefined })),
      badNamespace: claims(k8s({ namespace: 'Not-A-Label' })),
    };
  };
  const verdicts = (v: ReturnType<typeof variants>) =>
    Object.fromEntries(
      Object.entries(v).map(([name, payload]) => [name, code(() => identityFromClaims(payload, [AUDIENCE]))]),
    );
  const expected = {
    valid: 'accepted',
    otherNamespace: 'claim_invalid:sub',
    otherName: 'claim_invalid:sub',
    noUid: 'claim_invalid:kubernetes.io',
    noServiceAccount: 'claim_invalid:kubernetes.io',
    badNamespace: 'claim_invalid:kubernetes.io',
  };

  it('gives the verdicts of the full checks for a subject seen before, on claims that differ from it', () => {
    const v = variants('memo', 'caller');
    expect(verdicts(v)).toEqual(expected);
    // Now the subject is known: the same claims, again, in the other order too.
    expect(verdicts(v)).toEqual(expected);
    const reversed = Object.fromEntries(Object.entries(v).reverse()) as typeof v;
    expect(verdicts(reversed)).toEqual(expected);
  });

  it('shares one frozen groups list per subject, equal to what the checks derive', () => {
    const a = identityFromClaims(claims({ namespace: 'shared', serviceAccount: 'sa' }), [AUDIENCE]);
    const b = identityFromClaims(claims({ namespace: 'shared', serviceAccount: 'sa' }), [AUDIENCE]);
    expect(a.groups).toEqual(['system:serviceaccounts', 'system:serviceaccounts:shared', 'system:authenticated']);
    expect(b.groups).toBe(a.groups);
    expect(Object.isFrozen(a.groups)).toBe(true);
    expect(a.serviceAccount).not.toBe(b.serviceAccount);
  });

  it('keeps every verdict across more subjects than the memo holds', () => {
    const subjects = Array.from({ length: 600 }, (_, i) => variants(`ns-${i % 7}`, `sa-${i}`));
    for (const round of [1, 2]) {
      subjects.forEach((v, i) => expect(verdicts(v), `round ${round}, subject ${i}`).toEqual(expected));
    }
  });
});

describe('identity model: binding rules, the same in both directions', () => {
  const cases: Array<[string, TokenSpec, { requirePodBinding?: boolean; requireNodeBinding?: boolean }, string]> = [
    ['pod-bound with node, no requirement', {}, {}, 'accepted'],
    ['pod-bound with node, both required', {}, { requirePodBinding: true, requireNodeBinding: true }, 'accepted'],
    ['pod-bound without node, pod required', { node: null }, { requirePodBinding: true }, 'accepted'],
    [
      'pod-bound without node, node required',
      { node: null },
      { requireNodeBinding: true },
      'claim_invalid:kubernetes.io',
    ],
    ['unbound, pod required', { pod: null, node: null }, { requirePodBinding: true }, 'claim_invalid:kubernetes.io'],
    ['unbound, no requirement', { pod: null, node: null }, {}, 'accepted'],
  ];

  it.each(cases)('%s: local and TokenReview views agree', (_name, spec, requirements, expected) => {
    const payload = claims(spec);
    const local = code(() => identityFromClaims(payload, [AUDIENCE], requirements));
    const review = code(() =>
      identityFromReview(reviewOf(payload), {
        configuredAudiences: [AUDIENCE],
        tokenPayload: payload,
        ...requirements,
      }),
    );
    expect([local, review]).toEqual([expected, expected]);
  });

  it('checkBinding is the rule both directions call', () => {
    const identity = identityFromClaims(claims({ node: null }), [AUDIENCE]);
    expect(code(() => checkBinding(identity, { requireNodeBinding: true }))).toBe('claim_invalid:kubernetes.io');
    expect(code(() => checkBinding(identity, { requirePodBinding: true }))).toBe('accepted');
  });
});

describe('identity model: TokenReview status ↔ identity', () => {
  it('round-trips: the review of a token gives the identity of its claims (but verifiedBy)', () => {
    for (const spec of [{}, { node: null }, { pod: null, node: null }] satisfies TokenSpec[]) {
      const payload = claims(spec);
      const local = identityFromClaims(payload, [AUDIENCE]);
      const reviewed = identityFromReview(reviewOf(payload), {
        configuredAudiences: [AUDIENCE],
        tokenPayload: payload,
      });
      expect(reviewed).toEqual({ ...local, verifiedBy: 'tokenreview' });
    }
  });

  it('writes the extras as the API server does', () => {
    expect(identityToUserInfo(identityFromClaims(claims(), [AUDIENCE])).extra).toEqual({
      'authentication.kubernetes.io/pod-name': ['api-7d4b9c-x2x9z'],
      'authentication.kubernetes.io/pod-uid': ['pod-uid-1'],
      'authentication.kubernetes.io/node-name': ['node-1'],
      'authentication.kubernetes.io/node-uid': ['node-uid-1'],
      'authentication.kubernetes.io/credential-id': ['JTI=jti-0b1c2d3e'],
    });
  });

  it('refuses what the API server does not authenticate, or confirms for another audience', () => {
    const context = { configuredAudiences: [AUDIENCE] };
    expect(code(() => identityFromReview({ authenticated: false, error: 'pod not found' }, context))).toBe(
      'tokenreview_rejected',
    );
    expect(code(() => identityFromReview(undefined, context))).toBe('tokenreview_rejected');
    expect(code(() => identityFromReview({ ...reviewOf(claims()), audiences: ['other'] }, context))).toBe(
      'audience_mismatch:aud',
    );
    expect(
      code(() =>
        identityFromReview({ authenticated: true, audiences: [AUDIENCE], user: { username: 'alice' } }, context),
      ),
    ).toBe('claim_invalid:sub');
  });
});

describe('identity model: cache expiry and caller comparison', () => {
  it('never caches past exp', () => {
    const identity = { expiresAt: new Date(T0 + 5_000) };
    expect(cacheUntil(identity, T0, 10_000)).toBe(T0 + 5_000);
    expect(cacheUntil(identity, T0, 1_000)).toBe(T0 + 1_000);
    expect(cacheUntil({}, T0, 1_000)).toBe(T0 + 1_000);
  });

  it('sameCaller: a recreated ServiceAccount, pod or node (new uid) is another caller', () => {
    const a = identityFromClaims(claims(), [AUDIENCE]);
    const with_ = (patch: Partial<ServiceAccountIdentity>) => ({ ...a, ...patch });
    expect(sameCaller(a, with_({ verifiedBy: 'tokenreview' }))).toBe(true);
    expect(sameCaller(a, with_({ serviceAccount: { name: 'api', uid: 'new' } }))).toBe(false);
    expect(sameCaller(a, with_({ pod: { name: 'api-7d4b9c-x2x9z', uid: 'new' } }))).toBe(false);
    expect(sameCaller(a, with_({ node: { name: 'node-1', uid: 'new' } }))).toBe(false);
    expect(sameCaller(a, with_({ username: 'system:serviceaccount:api:other' }))).toBe(false);
    // An API server that does not report node extras does not contradict the token.
    const { node: _node, ...withoutNode } = a;
    expect(sameCaller(a, withoutNode)).toBe(true);
  });
});
