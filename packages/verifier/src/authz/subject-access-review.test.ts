import { ApiException, type V1SubjectAccessReview } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { isKubeAuthError } from '../errors.js';
import type { ServiceAccountIdentity } from '../identity/identity.js';
import type { SubjectAccessReviewClient } from '../kube/review-clients.js';
import { SubjectAccessReviewer, validateAccessAttributes } from './subject-access-review.js';

const identity: ServiceAccountIdentity = {
  username: 'system:serviceaccount:api:api',
  namespace: 'api',
  serviceAccount: { name: 'api', uid: 'sa-uid' },
  pod: { name: 'api-1', uid: 'pod-uid' },
  groups: ['system:serviceaccounts', 'system:serviceaccounts:api', 'system:authenticated'],
  audiences: ['data-store'],
  credentialId: 'jti-1',
  verifiedBy: 'local',
};
const READ_RECORDS = { resource: 'records', group: 'data.example.com', verb: 'get', namespace: 'data-store' };

function fakeClient(answer: (review: V1SubjectAccessReview) => Promise<V1SubjectAccessReview['status']>) {
  const seen: V1SubjectAccessReview[] = [];
  const client: SubjectAccessReviewClient = {
    async createSubjectAccessReview(review) {
      seen.push(review);
      return { ...review, status: await answer(review) };
    },
  };
  return { client, seen };
}

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'allowed';
  } catch (err) {
    if (isKubeAuthError(err)) return err.code;
    throw err;
  }
}

describe('SubjectAccessReviewer', () => {
  it('asks about the caller as the API server knows it, with the static attributes of the route', async () => {
    const { client, seen } = fakeClient(async () => ({ allowed: true }));
    await new SubjectAccessReviewer({ client }).authorize(identity, READ_RECORDS);
    expect(seen[0]?.spec).toEqual({
      user: 'system:serviceaccount:api:api',
      uid: 'sa-uid',
      groups: ['system:authenticated', 'system:serviceaccounts', 'system:serviceaccounts:api'],
      extra: {
        'authentication.kubernetes.io/pod-name': ['api-1'],
        'authentication.kubernetes.io/pod-uid': ['pod-uid'],
        'authentication.kubernetes.io/credential-id': ['JTI=jti-1'],
      },
      resourceAttributes: { group: 'data.example.com', resource: 'records', verb: 'get', namespace: 'data-store' },
    });
  });

  it('sends non-resource attributes for a path', async () => {
    const { client, seen } = fakeClient(async () => ({ allowed: true }));
    await new SubjectAccessReviewer({ client }).authorize(identity, { path: '/metrics', verb: 'get' });
    expect(seen[0]?.spec?.nonResourceAttributes).toEqual({ path: '/metrics', verb: 'get' });
    expect(seen[0]?.spec?.resourceAttributes).toBeUndefined();
  });

  it('answers subjectaccessreview_denied when RBAC says no (or has no opinion)', async () => {
    const denied = fakeClient(async () => ({ allowed: false, denied: true, reason: 'nope' }));
    expect(await reason(new SubjectAccessReviewer({ client: denied.client }).authorize(identity, READ_RECORDS))).toBe(
      'subjectaccessreview_denied',
    );
    const noOpinion = fakeClient(async () => ({ allowed: false }));
    expect(
      await reason(new SubjectAccessReviewer({ client: noOpinion.client }).authorize(identity, READ_RECORDS)),
    ).toBe('subjectaccessreview_denied');
  });

  it('answers subjectaccessreview_unavailable when it cannot ask, and does not cache that', async () => {
    let calls = 0;
    const { client } = fakeClient(async () => {
      calls++;
      throw new ApiException(403, 'Forbidden', { message: 'forbidden' }, {});
    });
    const reviewer = new SubjectAccessReviewer({ client });
    expect(await reason(reviewer.authorize(identity, READ_RECORDS))).toBe('subjectaccessreview_unavailable');
    expect(await reason(reviewer.authorize(identity, READ_RECORDS))).toBe('subjectaccessreview_unavailable');
    expect(calls).toBe(2);
    const slow = fakeClient(() => new Promise(() => undefined));
    expect(
      await reason(new SubjectAccessReviewer({ client: slow.client, timeoutMs: 20 }).authorize(identity, READ_RECORDS)),
    ).toBe('subjectaccessreview_unavailable');
  });

  it('caches allow and deny answers for their TTLs, per caller and attributes, and coalesces concurrent questions', async () => {
    let now = 0;
    let allowed = true;
    const { client, seen } = fakeClient(async () => ({ allowed }));
    const reviewer = new SubjectAccessReviewer({ client, clock: () => now, allowTtlSeconds: 10, denyTtlSeconds: 2 });
    await Promise.all([1, 2, 3].map(() => reviewer.authorize(identity, READ_RECORDS)));
    expect(seen).toHaveLength(1);
    await reviewer.authorize(identity, { ...READ_RECORDS, verb: 'list' });
    expect(seen).toHaveLength(2);
    allowed = false;
    now = 9_999;
    expect(await reason(reviewer.authorize(identity, READ_RECORDS))).toBe('allowed');
    now = 10_000;
    expect(await reason(reviewer.authorize(identity, READ_RECORDS))).toBe('subjectaccessreview_denied');
    allowed = true;
    now = 11_999;
    expect(await reason(reviewer.authorize(identity, READ_RECORDS))).toBe('subjectaccessreview_denied');
    now = 12_000;
    expect(await reason(reviewer.authorize(identity, READ_RECORDS))).toBe('allowed');
    expect(reviewer.reviews).toBe(4);
  });

  it('validates attributes and options up front', () => {
    expect(() => validateAccessAttributes({ resource: 'pods', verb: '' })).toThrow(TypeError);
    expect(() => validateAccessAttributes({ resource: '', verb: 'get' })).toThrow(TypeError);
    expect(() => validateAccessAttributes({ path: 'metrics', verb: 'get' })).toThrow(TypeError);
    expect(validateAccessAttributes({ path: '/metrics', verb: 'get' })).toEqual({ path: '/metrics', verb: 'get' });
    const { client } = fakeClient(async () => ({ allowed: true }));
    expect(() => new SubjectAccessReviewer({ client, allowTtlSeconds: -1 })).toThrow(TypeError);
  });
});
