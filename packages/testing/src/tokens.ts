import { readFile } from 'node:fs/promises';
import { createPrivateKey } from 'node:crypto';
import { serviceAccountClaims } from './claims.js';
import { SignJWT } from 'jose';
import type { SigningKey } from './pki.js';

/** Claims of a self-signed ServiceAccount token; see {@link signServiceAccountToken}. */
export interface SignTokenParams {
  issuer: string;
  namespace: string;
  serviceAccount: { name: string; uid: string };
  audiences: string[];
  /** Lifetime from `issuedAt`, in seconds; may be tiny or negative. Default 600. */
  expiresInSeconds?: number;
  /** Default now. */
  issuedAt?: Date;
  pod?: { name: string; uid: string };
  node?: { name: string; uid: string };
}

/**
 * Signs a token shaped like the API server's own (same claims, `kid` and algorithm) with a key the API server trusts.
 * TokenRequest refuses lifetimes under 10 minutes; this is how tests get short-lived or already-expired tokens. The API
 * server's authenticator accepts them like its own, as long as the ServiceAccount (and pod) uids are real.
 */
export async function signServiceAccountToken(key: SigningKey, params: SignTokenParams): Promise<string> {
  const privateKey = createPrivateKey(await readFile(key.privateKeyFile, 'utf8'));
  const claims = serviceAccountClaims({
    issuer: params.issuer,
    namespace: params.namespace,
    serviceAccount: params.serviceAccount,
    audiences: params.audiences,
    pod: params.pod,
    node: params.node,
    issuedAt: Math.floor((params.issuedAt ?? new Date()).getTime() / 1000),
    lifetimeSeconds: params.expiresInSeconds,
  });
  return new SignJWT(claims).setProtectedHeader({ alg: key.algorithm, kid: key.keyId }).sign(privateKey);
}
