import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createPrivateKey } from 'node:crypto';
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
  const iat = Math.floor((params.issuedAt ?? new Date()).getTime() / 1000);
  const kubernetes: Record<string, unknown> = { namespace: params.namespace, serviceaccount: params.serviceAccount };
  if (params.pod) kubernetes.pod = params.pod;
  if (params.node) kubernetes.node = params.node;
  return new SignJWT({ 'kubernetes.io': kubernetes })
    .setProtectedHeader({ alg: key.algorithm, kid: key.keyId })
    .setIssuer(params.issuer)
    .setSubject(`system:serviceaccount:${params.namespace}:${params.serviceAccount.name}`)
    .setAudience(params.audiences)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + (params.expiresInSeconds ?? 600))
    .setJti(randomUUID())
    .sign(privateKey);
}
