import type { Verifier } from '../src/authn/verifier.js';

/**
 * A hand-made {@link Verifier} for the adapters' tests: `check` defaults to `verify`, and it confirms revocation
 * (`canReview`) unless told otherwise, as a verifier that checks revocation itself would.
 */
export function stubVerifier(parts: {
  verify: Verifier['verify'];
  check?: Verifier['check'];
  canReview?: boolean;
}): Verifier {
  const canReview = parts.canReview ?? true;
  return {
    mode: 'local',
    canReview,
    requireReview() {
      if (!canReview) throw new TypeError('this stub verifier cannot confirm revocation');
    },
    verify: parts.verify,
    check: parts.check ?? ((token, options) => parts.verify(token, options)),
  };
}
