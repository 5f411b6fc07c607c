/**
 * Authorization, after authentication: an allow-list of identities and groups ({@link Policy}), or the cluster's
 * RBAC asked per route (`subject-access-review.ts`); `admitted-namespaces.ts` derives from the allow-list which
 * namespaces the revocation watch must follow.
 */
import type { ServiceAccountIdentity } from '../identity/identity.js';

/** The outcome of {@link Policy.decide}, with the rule that allowed it, for logs. */
export type PolicyDecision =
  | { allowed: true; reason: 'identity_allowed' | 'group_allowed'; rule: string }
  | { allowed: false; reason: 'identity_not_allowed' };

/** Options of {@link Policy}. */
export interface PolicyOptions {
  /**
   * Allowed ServiceAccounts: `system:serviceaccount:<ns>:<name>`, `<ns>:<name>`, `<ns>:*` (any in a namespace),
   * or `*` (any authenticated ServiceAccount, stated explicitly).
   */
  allow?: string[];
  /** Allowed groups, e.g. `system:serviceaccounts:api`. */
  allowGroups?: string[];
}

const PREFIX = 'system:serviceaccount:';
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * Authorization after authentication: an allow-list of identities and groups. Nothing is allowed unless listed;
 * an empty policy denies every caller.
 */
export class Policy {
  private readonly exact = new Set<string>();
  private readonly namespaces = new Set<string>();
  private readonly groups: Set<string>;
  private readonly any: boolean;

  constructor(options: PolicyOptions) {
    let any = false;
    for (const raw of options.allow ?? []) {
      const entry = raw.trim();
      if (entry === '*') {
        any = true;
        continue;
      }
      const [ns, name, ...rest] = (entry.startsWith(PREFIX) ? entry.slice(PREFIX.length) : entry).split(':');
      if (!ns || !name || rest.length > 0 || !NAME.test(ns) || (name !== '*' && !NAME.test(name))) {
        throw new Error(
          `invalid identity pattern "${entry}": use system:serviceaccount:<ns>:<name>, <ns>:<name>, <ns>:* or *`,
        );
      }
      if (name === '*') this.namespaces.add(ns);
      else this.exact.add(`${PREFIX}${ns}:${name}`);
    }
    this.any = any;
    this.groups = new Set((options.allowGroups ?? []).map((g) => g.trim()).filter(Boolean));
  }

  /** Parses comma-separated lists, as environment variables carry them. */
  static fromLists(allow: string | undefined, allowGroups?: string): Policy {
    const split = (value: string | undefined) =>
      (value ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    return new Policy({ allow: split(allow), allowGroups: split(allowGroups) });
  }

  decide(identity: ServiceAccountIdentity): PolicyDecision {
    if (this.any) return { allowed: true, reason: 'identity_allowed', rule: '*' };
    if (this.exact.has(identity.username))
      return { allowed: true, reason: 'identity_allowed', rule: identity.username };
    if (this.namespaces.has(identity.namespace)) {
      return { allowed: true, reason: 'identity_allowed', rule: `${PREFIX}${identity.namespace}:*` };
    }
    const group = identity.groups.find((g) => this.groups.has(g));
    if (group !== undefined) return { allowed: true, reason: 'group_allowed', rule: group };
    return { allowed: false, reason: 'identity_not_allowed' };
  }
}
