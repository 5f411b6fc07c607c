import { KubeAuthError } from '../errors.js';
import { sameCaller, type ServiceAccountIdentity } from '../identity/identity.js';
import { freezeIdentity } from '../identity/immutable.js';

/**
 * The one rule for a token verified offline and then reviewed by the API server (revocation-sensitive routes, the
 * TokenReview mode's pre-check, the watch's fallback): both views must describe the same caller ({@link sameCaller});
 * a disagreement means the object the token names is not the one that exists now (e.g. a ServiceAccount recreated
 * with a new uid), and the token is refused. Returns the identity to hand out: with `keep: 'offline'`, the token's
 * own (it carries times and issuer) with the review's groups, marked `verifiedBy: 'tokenreview'`; with
 * `keep: 'review'`, the review's. Without an offline view (no usable keys), the review alone decides.
 */
export function confirmByReview(
  offline: ServiceAccountIdentity | undefined,
  reviewed: ServiceAccountIdentity,
  keep: 'offline' | 'review',
): ServiceAccountIdentity {
  if (!offline) return reviewed;
  if (!sameCaller(offline, reviewed)) {
    throw new KubeAuthError('tokenreview_rejected', 'the API server describes a different caller than the token');
  }
  if (keep === 'review') return reviewed;
  return freezeIdentity({ ...offline, groups: reviewed.groups, verifiedBy: 'tokenreview' });
}
