import type { ReasonKind } from '@kube-service-auth/verifier';

/**
 * Exit codes of `kube-service-auth verify`: one per reason kind, so that a script can tell a bad token from a policy
 * refusal from an outage without parsing the output.
 */
export const EXIT = {
  ok: 0,
  /** Bad usage or configuration (an unknown flag, a missing audience, an unreadable file). */
  usage: 2,
  unauthenticated: 3,
  invalid: 4,
  forbidden: 5,
  unavailable: 6,
  /** The verifier cannot decide until its configuration or the issuer is fixed (e.g. an unusable key). */
  misconfigured: 7,
} as const satisfies Record<'ok' | 'usage' | ReasonKind, number>;
