import type { JWTPayload } from 'jose';
import { KubeAuthError } from './errors.js';
import {
  parseServiceAccountUsername,
  serviceAccountGroups,
  type BoundObject,
  type ServiceAccountIdentity,
} from './identity.js';

/** What a verified token must carry beyond signature, issuer, audience and times. */
export interface ClaimRequirements {
  /** Accept only tokens bound to a pod (projected tokens, TokenRequest with a Pod `boundObjectRef`). */
  requirePodBinding?: boolean;
  /** Accept only tokens that name the node their pod runs on. */
  requireNodeBinding?: boolean;
}

// RFC 1123 label (namespaces) and subdomain (ServiceAccount names), as the API server validates them.
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Reads the `kubernetes.io` private claim of a verified ServiceAccount token into a typed identity, and checks that
 * it agrees with `sub`. Throws `claim_invalid` (with `claim` set) when anything is missing or inconsistent.
 */
export function parseServiceAccountClaims(
  payload: JWTPayload,
  audiences: string[],
  requirements: ClaimRequirements = {},
): ServiceAccountIdentity {
  const sub = payload.sub;
  const fromSub = typeof sub === 'string' ? parseServiceAccountUsername(sub) : undefined;
  if (!fromSub) throw invalid('sub', 'sub is not system:serviceaccount:<namespace>:<name>');

  const k8s = payload['kubernetes.io'];
  if (!isObject(k8s)) throw invalid('kubernetes.io', 'the kubernetes.io claim is missing');
  const namespace = k8s.namespace;
  if (typeof namespace !== 'string' || namespace.length > 63 || !LABEL.test(namespace)) {
    throw invalid('kubernetes.io', 'kubernetes.io.namespace is missing or not a namespace name');
  }
  const serviceAccount = boundObject(k8s.serviceaccount, 'serviceaccount');
  if (!serviceAccount || serviceAccount.name.length > 253 || !SUBDOMAIN.test(serviceAccount.name)) {
    throw invalid('kubernetes.io', 'kubernetes.io.serviceaccount is missing or malformed');
  }
  if (fromSub.namespace !== namespace || fromSub.name !== serviceAccount.name) {
    throw invalid('sub', 'sub does not match kubernetes.io.namespace and kubernetes.io.serviceaccount.name');
  }
  const pod = boundObject(k8s.pod, 'pod');
  const node = boundObject(k8s.node, 'node');
  if (requirements.requirePodBinding && !pod) throw invalid('kubernetes.io', 'the token is not bound to a pod');
  if (requirements.requireNodeBinding && !node) throw invalid('kubernetes.io', 'the token does not name a node');

  const identity: ServiceAccountIdentity = {
    username: sub as string,
    namespace,
    serviceAccount,
    groups: serviceAccountGroups(namespace),
    audiences,
    verifiedBy: 'local',
  };
  if (pod) identity.pod = pod;
  if (node) identity.node = node;
  if (typeof payload.iss === 'string') identity.issuer = payload.iss;
  if (typeof payload.jti === 'string') identity.credentialId = payload.jti;
  if (typeof payload.iat === 'number') identity.issuedAt = new Date(payload.iat * 1000);
  if (typeof payload.exp === 'number') identity.expiresAt = new Date(payload.exp * 1000);
  return identity;
}

function boundObject(value: unknown, what: string): BoundObject | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || typeof value.name !== 'string' || typeof value.uid !== 'string' || !value.name || !value.uid) {
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
