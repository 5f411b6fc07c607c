import { randomUUID } from 'node:crypto';

/** What a ServiceAccount token's claims say: who, for whom, bound to what, and when. */
export interface ServiceAccountClaimsSpec {
  issuer: string;
  namespace: string;
  serviceAccount: { name: string; uid?: string };
  audiences: string[];
  pod?: { name: string; uid: string };
  node?: { name: string; uid: string };
  /** Seconds since the epoch; default now. */
  issuedAt?: number;
  /** Default 600 s. */
  lifetimeSeconds?: number;
}

/**
 * The claims the API server puts in a projected ServiceAccount token, in its (alphabetical) order: one builder for the
 * adversarial suite, the control plane's own signer and the bench.
 */
export function serviceAccountClaims(spec: ServiceAccountClaimsSpec): Record<string, unknown> {
  const iat = spec.issuedAt ?? Math.floor(Date.now() / 1000);
  const kubernetes: Record<string, unknown> = { namespace: spec.namespace };
  if (spec.node) kubernetes.node = spec.node;
  if (spec.pod) kubernetes.pod = spec.pod;
  kubernetes.serviceaccount = spec.serviceAccount;
  return {
    aud: spec.audiences,
    exp: iat + (spec.lifetimeSeconds ?? 600),
    iat,
    iss: spec.issuer,
    jti: randomUUID(),
    'kubernetes.io': kubernetes,
    nbf: iat,
    sub: `system:serviceaccount:${spec.namespace}:${spec.serviceAccount.name}`,
  };
}
