/**
 * The one model of a Kubernetes ServiceAccount identity, in every direction the package needs it, and the rules a
 * caller must satisfy. Local verification (token claims) and TokenReview (the API server's `user` and `extra`) both
 * build their identity here and both apply {@link checkBinding}, {@link acceptedAudiences} and {@link cacheUntil}, so
 * the two modes cannot drift apart: a rule changes in one place or not at all.
 *
 * Directions:
 * - token claims → identity: {@link identityFromClaims};
 * - TokenReview `status` → identity: {@link identityFromReview};
 * - identity → the API server's `user` (`authentication.kubernetes.io/*` extras): {@link identityToUserInfo};
 * - two views of one caller agree: {@link sameCaller}.
 */
import { KubeAuthError } from '../errors.js';
import { immutableDateAt } from './immutable.js';

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

/** What a caller must carry beyond a valid token; applied identically in both modes by {@link checkBinding}. */
export interface BindingRequirements {
  /** Accept only tokens bound to a pod (projected tokens, TokenRequest with a Pod `boundObjectRef`). */
  requirePodBinding?: boolean;
  /** Accept only tokens that name the node their pod runs on (`kubernetes.io.node`; `node-name`/`node-uid` extras). */
  requireNodeBinding?: boolean;
}

/** The `user` of a TokenReview status, as the API server reports it (the subset this model reads and writes). */
export interface ReviewedUser {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** Prefix of the extras the API server attaches to a ServiceAccount user (pod, node, credential id). */
export const EXTRA_PREFIX = 'authentication.kubernetes.io/';
const EXTRA = {
  podName: `${EXTRA_PREFIX}pod-name`,
  podUid: `${EXTRA_PREFIX}pod-uid`,
  nodeName: `${EXTRA_PREFIX}node-name`,
  nodeUid: `${EXTRA_PREFIX}node-uid`,
  credentialId: `${EXTRA_PREFIX}credential-id`,
} as const;

const USERNAME = /^system:serviceaccount:([^:]+):([^:]+)$/;
// RFC 1123 label (namespaces) and subdomain (ServiceAccount names), as the API server validates them.
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Splits `system:serviceaccount:<ns>:<name>`; undefined for any other user name. */
export function parseServiceAccountUsername(username: string): { namespace: string; name: string } | undefined {
  const match = USERNAME.exec(username);
  return match?.[1] && match[2] ? { namespace: match[1], name: match[2] } : undefined;
}

const USERNAME_PREFIX = 'system:serviceaccount:';

// `username` is `system:serviceaccount:<namespace>:<name>` (a valid namespace and name contain no colon, so this is
// the comparison of the parts that {@link parseServiceAccountUsername} yields, without allocating them).
function isUsernameOf(username: string, namespace: string, name: string): boolean {
  const nameAt = USERNAME_PREFIX.length + namespace.length + 1;
  return (
    username.length === nameAt + name.length &&
    username.startsWith(USERNAME_PREFIX) &&
    username.startsWith(namespace, USERNAME_PREFIX.length) &&
    username.charCodeAt(nameAt - 1) === 58 /* : */ &&
    username.endsWith(name)
  );
}

/** The groups the API server puts a ServiceAccount in. */
export function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'];
}

/**
 * Audience normalisation, shared by both modes: the configured audiences that the token (local mode) or the review's
 * `status.audiences` (TokenReview) also names, in configuration order. Empty means "not meant for us".
 */
export function acceptedAudiences(configured: readonly string[], presented: unknown): string[] {
  const list = typeof presented === 'string' ? [presented] : Array.isArray(presented) ? presented : [];
  return configured.filter((a) => list.includes(a));
}

/**
 * The cache expiry rule, shared by both modes: a result is remembered `ttlMs` from `now`, never past the token's
 * `exp`. Returns the instant in ms since the epoch (≤ `now` means "do not cache").
 */
export function cacheUntil(identity: Pick<ServiceAccountIdentity, 'expiresAt'>, now: number, ttlMs: number): number {
  const ttlEnd = now + ttlMs;
  return identity.expiresAt ? Math.min(ttlEnd, identity.expiresAt.getTime()) : ttlEnd;
}

/** Throws `claim_invalid` (claim `kubernetes.io`) when the identity lacks a binding the requirements ask for. */
export function checkBinding(identity: ServiceAccountIdentity, requirements: BindingRequirements = {}): void {
  if (requirements.requirePodBinding && !identity.pod)
    throw invalid('kubernetes.io', 'the token is not bound to a pod');
  if (requirements.requireNodeBinding && !identity.node)
    throw invalid('kubernetes.io', 'the token does not name a node');
}

/**
 * Reads the claims of a verified ServiceAccount token (the `kubernetes.io` private claim, `sub`, `aud`, times) into
 * an identity, checks that `sub` agrees with `kubernetes.io`, normalises the audience against `configuredAudiences`
 * and applies the binding requirements. Throws `claim_invalid` (with `claim` set) or `audience_mismatch`. `groups` is
 * frozen and shared by the identities of one subject (the rest is the caller's to freeze, as the verifiers do).
 */
export function identityFromClaims(
  payload: Record<string, unknown>,
  configuredAudiences: readonly string[],
  requirements: BindingRequirements = {},
): ServiceAccountIdentity {
  const { sub, namespace, serviceAccount, groups } = checkedSubject(payload);
  const audiences = acceptedAudiences(configuredAudiences, payload.aud);
  if (audiences.length === 0)
    throw new KubeAuthError('audience_mismatch', 'the token is not meant for this audience', { claim: 'aud' });

  const k8s = payload['kubernetes.io'] as Record<string, unknown>;
  const identity: ServiceAccountIdentity = {
    username: sub,
    namespace,
    serviceAccount,
    groups: groups as string[],
    audiences,
    verifiedBy: 'local',
  };
  const pod = boundObject(k8s.pod, 'pod');
  const node = boundObject(k8s.node, 'node');
  if (pod) identity.pod = pod;
  if (node) identity.node = node;
  addTokenFacts(identity, payload);
  if (typeof payload.jti === 'string') identity.credentialId = payload.jti;
  checkBinding(identity, requirements);
  return identity;
}

/** A subject whose `sub`, `kubernetes.io.namespace` and ServiceAccount name passed every check together. */
interface KnownSubject {
  namespace: string;
  name: string;
  /** Its groups, frozen: shared by every identity of this subject. */
  groups: readonly string[];
}

// The tokens of one ServiceAccount arrive again and again (every pod, every rotation), each a new token that misses the
// verified-token cache, while its subject checks (three regular expressions and the groups) give the same answer each
// time: they run once per subject. Keyed by the exact `sub` and used only when the claims name the very same namespace
// and ServiceAccount, a hit is what the checks would give. In the verifiers only signed tokens get here (claims are
// read after the signature); whoever calls it, the memo is bounded and emptied when full.
const KNOWN_SUBJECTS_MAX = 256;
const knownSubjects = new Map<string, KnownSubject>();

/**
 * `sub` and the `kubernetes.io` namespace and ServiceAccount, checked: the forms the API server allows, and `sub` is
 * `system:serviceaccount:<namespace>:<name>` of the claim. Throws `claim_invalid` (claim `sub` or `kubernetes.io`).
 */
function checkedSubject(payload: Record<string, unknown>): {
  sub: string;
  namespace: string;
  serviceAccount: BoundObject;
  groups: readonly string[];
} {
  const sub = payload.sub;
  const k8s = payload['kubernetes.io'];
  const known = typeof sub === 'string' ? knownSubjects.get(sub) : undefined;
  if (known !== undefined && isObject(k8s) && k8s.namespace === known.namespace) {
    const serviceAccount = boundObject(k8s.serviceaccount, 'serviceaccount');
    if (serviceAccount?.name === known.name)
      return { sub: sub as string, namespace: known.namespace, serviceAccount, groups: known.groups };
  }

  // Only the form here (a test, no captures); the parts are compared below, once the kubernetes.io claim is valid.
  if (typeof sub !== 'string' || !USERNAME.test(sub))
    throw invalid('sub', 'sub is not system:serviceaccount:<namespace>:<name>');
  if (!isObject(k8s)) throw invalid('kubernetes.io', 'the kubernetes.io claim is missing');
  const namespace = k8s.namespace;
  if (typeof namespace !== 'string' || namespace.length > 63 || !LABEL.test(namespace)) {
    throw invalid('kubernetes.io', 'kubernetes.io.namespace is missing or not a namespace name');
  }
  const serviceAccount = boundObject(k8s.serviceaccount, 'serviceaccount');
  if (!serviceAccount || serviceAccount.name.length > 253 || !SUBDOMAIN.test(serviceAccount.name)) {
    throw invalid('kubernetes.io', 'kubernetes.io.serviceaccount is missing or malformed');
  }
  if (!isUsernameOf(sub, namespace, serviceAccount.name)) {
    throw invalid('sub', 'sub does not match kubernetes.io.namespace and kubernetes.io.serviceaccount.name');
  }
  const groups = Object.freeze(serviceAccountGroups(namespace));
  if (knownSubjects.size >= KNOWN_SUBJECTS_MAX) knownSubjects.clear();
  knownSubjects.set(sub, { namespace, name: serviceAccount.name, groups });
  return { sub, namespace, serviceAccount, groups };
}

/** Options of {@link identityFromReview}. */
export interface ReviewContext extends BindingRequirements {
  /** The audiences sent in `spec.audiences`; the review must confirm at least one. */
  configuredAudiences: readonly string[];
  /**
   * The token's payload (`exp`, `iat`, `iss`), which the review does not report. Read without verification, which is
   * sound only because the API server has just authenticated this very token.
   */
  tokenPayload?: Record<string, unknown>;
}

/**
 * Reads an authenticated TokenReview `status` into an identity: the ServiceAccount from `user.username` and
 * `user.uid`, pod, node and credential id from the `authentication.kubernetes.io/*` extras, audiences normalised as in
 * local mode, and the same binding requirements. Throws `tokenreview_rejected`, `audience_mismatch` or `claim_invalid`.
 */
export function identityFromReview(
  status: { authenticated?: boolean; audiences?: string[]; user?: ReviewedUser; error?: string } | undefined,
  context: ReviewContext,
): ServiceAccountIdentity {
  if (status?.authenticated !== true) {
    // status.error is the API server's own words (e.g. "pod not found"); it never contains the token.
    throw new KubeAuthError(
      'tokenreview_rejected',
      `the API server did not authenticate the token${status?.error ? `: ${status.error}` : ''}`,
    );
  }
  const audiences = acceptedAudiences(context.configuredAudiences, status.audiences);
  if (audiences.length === 0)
    throw new KubeAuthError('audience_mismatch', 'the review does not confirm our audience', { claim: 'aud' });
  const username = status.user?.username ?? '';
  const sa = parseServiceAccountUsername(username);
  if (!sa) throw invalid('sub', 'the token does not belong to a ServiceAccount');
  const extra = status.user?.extra ?? {};
  const first = (key: string): string | undefined => extra[key]?.[0] || undefined;
  const identity: ServiceAccountIdentity = {
    username,
    namespace: sa.namespace,
    serviceAccount: { name: sa.name, uid: status.user?.uid ?? '' },
    groups: status.user?.groups ?? [],
    audiences,
    verifiedBy: 'tokenreview',
  };
  const pod = pair(first(EXTRA.podName), first(EXTRA.podUid));
  const node = pair(first(EXTRA.nodeName), first(EXTRA.nodeUid));
  if (pod) identity.pod = pod;
  if (node) identity.node = node;
  if (context.tokenPayload) addTokenFacts(identity, context.tokenPayload);
  const credentialId = first(EXTRA.credentialId);
  if (credentialId) identity.credentialId = credentialId.replace(/^JTI=/, '');
  checkBinding(identity, context);
  return identity;
}

/**
 * The `user` the API server reports for this identity in a TokenReview: user name, ServiceAccount uid, groups and the
 * `authentication.kubernetes.io/*` extras (pod, node, `credential-id: JTI=<jti>`). The inverse of
 * {@link identityFromReview}, for logs that print a review result and for test doubles of the API server.
 */
export function identityToUserInfo(
  identity: Pick<ServiceAccountIdentity, 'username' | 'serviceAccount' | 'groups' | 'pod' | 'node' | 'credentialId'>,
): Required<ReviewedUser> {
  const extra: Record<string, string[]> = {};
  if (identity.pod) {
    extra[EXTRA.podName] = [identity.pod.name];
    extra[EXTRA.podUid] = [identity.pod.uid];
  }
  if (identity.node) {
    extra[EXTRA.nodeName] = [identity.node.name];
    extra[EXTRA.nodeUid] = [identity.node.uid];
  }
  if (identity.credentialId) extra[EXTRA.credentialId] = [`JTI=${identity.credentialId}`];
  return { username: identity.username, uid: identity.serviceAccount.uid, groups: [...identity.groups], extra };
}

/**
 * True when two views (typically the token's claims and the API server's review) describe the same caller: same user
 * name, and the same ServiceAccount, pod and node uids wherever both know them. A disagreement means the object the
 * token names is not the one that exists now (e.g. a ServiceAccount recreated with a new uid).
 */
export function sameCaller(a: ServiceAccountIdentity, b: ServiceAccountIdentity): boolean {
  const sameUid = (x: BoundObject | undefined, y: BoundObject | undefined) => !x?.uid || !y?.uid || x.uid === y.uid;
  return (
    a.username === b.username &&
    sameUid(a.serviceAccount, b.serviceAccount) &&
    a.pod?.uid === b.pod?.uid &&
    sameUid(a.node, b.node)
  );
}

function addTokenFacts(identity: ServiceAccountIdentity, payload: Record<string, unknown>): void {
  if (typeof payload.iss === 'string') identity.issuer = payload.iss;
  // Immutable from the start: identities are frozen before they are handed out, and a plain Date would be copied then.
  if (typeof payload.iat === 'number') identity.issuedAt = immutableDateAt(payload.iat * 1000);
  if (typeof payload.exp === 'number') identity.expiresAt = immutableDateAt(payload.exp * 1000);
}

function pair(name: string | undefined, uid: string | undefined): BoundObject | undefined {
  return name && uid ? { name, uid } : undefined;
}

function boundObject(value: unknown, what: string): BoundObject | undefined {
  if (value === undefined) return undefined;
  if (
    !isObject(value) ||
    typeof value.name !== 'string' ||
    typeof value.uid !== 'string' ||
    !value.name ||
    !value.uid
  ) {
    throw invalid('kubernetes.io', `kubernetes.io.${what} must have a name and a uid`);
  }
  return { name: value.name, uid: value.uid };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(claim: string, message: string): KubeAuthError {
  return new KubeAuthError('claim_invalid', message, { claim });
}
