/**
 * Tokens signed here, with the claims of a pod-bound ServiceAccount token from the API server (the kit's own claim
 * builder), and their keys served by a loopback key server: the verifier's path is the same as against the API
 * server's JWKS (discovery aside), and the bench needs no control plane.
 */
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serviceAccountClaims } from '@kube-service-auth/testing';
import { LocalVerifier } from '@kube-service-auth/verifier';

export const ISSUER = 'https://bench.kube-service-auth.invalid';
export const AUDIENCE = 'data-store';
export type Alg = 'RS256' | 'ES256';

export interface SigningKey {
  alg: Alg;
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: Record<string, unknown>;
}

export function signingKey(alg: Alg): SigningKey {
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `bench-${alg.toLowerCase()}`;
  return { alg, kid, privateKey, publicKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact JWS, signed with node:crypto: a fresh pod (name and uid) and jti each time. */
export function signToken(key: SigningKey, index = 0): string {
  const claims = serviceAccountClaims({
    issuer: ISSUER,
    namespace: 'api',
    serviceAccount: { name: 'api', uid: '00000000-0000-4000-8000-000000000001' },
    audiences: [AUDIENCE],
    pod: { name: `caller-${index}`, uid: randomUUID() },
    lifetimeSeconds: 3600,
  });
  const input = `${b64({ alg: key.alg, kid: key.kid })}.${b64(claims)}`;
  const signature = sign(
    'sha256',
    Buffer.from(input),
    key.alg === 'ES256' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey,
  );
  return `${input}.${signature.toString('base64url')}`;
}

/** A loopback HTTP server answering `GET /jwks` with the keys, as the API server's `/openid/v1/jwks` would. */
export async function keyServer(keys: readonly SigningKey[]): Promise<{ url: string; close: () => Promise<void> }> {
  const body = JSON.stringify({ keys: keys.map((k) => k.jwk) });
  const server = createServer((req, res) => {
    if (req.url !== '/jwks') res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  return {
    url,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Our local verifier, trusting the key server, warm (key set fetched). `cacheTtlSeconds: 0` turns the cache off. */
export async function localVerifier(jwksUri: string, cacheTtlSeconds: number): Promise<LocalVerifier> {
  const verifier = new LocalVerifier({
    issuers: [{ issuer: ISSUER, jwksUri }],
    audience: AUDIENCE,
    fetch: globalThis.fetch,
    requirePodBinding: true,
    cacheTtlSeconds,
  });
  await verifier.warm();
  return verifier;
}
