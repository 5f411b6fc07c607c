/** A Kubernetes object reference carried in a token: a name and the uid of the object it was bound to. */
export interface BoundObject {
  name: string;
  uid: string;
}

/**
 * Who called: a Kubernetes ServiceAccount, and when the token is pod-bound, the pod (and node) it was minted for.
 * The same shape comes out of local verification and of TokenReview.
 */
export interface ServiceAccountIdentity {
  /** `system:serviceaccount:<namespace>:<name>`, the user name Kubernetes gives the caller. */
  username: string;
  namespace: string;
  serviceAccount: BoundObject;
  pod?: BoundObject;
  node?: BoundObject;
  /** Groups as the API server derives them (`system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`). */
  groups: string[];
  /** The token's audiences that this service accepted; in TokenReview mode, the API server's `status.audiences`. */
  audiences: string[];
  issuer?: string;
  /** The token's `jti` (Kubernetes calls it credential id). */
  credentialId?: string;
  issuedAt?: Date;
  expiresAt?: Date;
  /** How the token was checked: offline (`local`) or by the API server (`tokenreview`). */
  verifiedBy: 'local' | 'tokenreview';
}

const USERNAME = /^system:serviceaccount:([^:]+):([^:]+)$/;

/** Splits `system:serviceaccount:<ns>:<name>`; undefined for any other user name. */
export function parseServiceAccountUsername(username: string): { namespace: string; name: string } | undefined {
  const match = USERNAME.exec(username);
  return match?.[1] && match[2] ? { namespace: match[1], name: match[2] } : undefined;
}

/** The groups the API server puts a ServiceAccount in. */
export function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'];
}
