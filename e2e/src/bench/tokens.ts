import { createServer, type Server } from 'node:http';
import { generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serviceAccountClaims as sharedClaims } from '@kube-service-auth/testing';
import type { AuthConfig } from './protocol.js';

type LocalAuthConfig = Extract<AuthConfig, { kind: 'local' }>;

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A throwaway signing key (never trusted by the API server) and its public JWK. */
export interface BenchKey {
  alg: 'RS256' | 'ES256';
  kid: string;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

export function generateBenchKey(alg: 'RS256' | 'ES256'): BenchKey {
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = randomBytes(16).toString('base64url');
  return { alg, kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

/**
 * Signs a compact JWS with node:crypto directly (fast enough for 100,000 ES256 tokens in seconds). `kid` defaults to
 * the key's.
 */
export function signJwt(key: BenchKey, payload: Record<string, unknown>, kid = key.kid): string {
  const input = `${b64url({ alg: key.alg, kid })}.${b64url(payload)}`;
  const signature = sign(
    'sha256',
    Buffer.from(input),
    key.alg === 'ES256' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey,
  );
  return `${input}.${signature.toString('base64url')}`;
}

/** Claims shaped like a pod-bound ServiceAccount token from the API server (namespace `api`, ServiceAccount `api`). */
export function serviceAccountClaims(
  issuer: string,
  index: number,
  saUid: string,
  lifetimeSeconds = 3600,
): Record<string, unknown> {
  return sharedClaims({
    issuer,
    namespace: 'api',
    serviceAccount: { name: 'api', uid: saUid },
    audiences: ['data-store'],
    pod: { name: `caller-${index}`, uid: randomUUID() },
    lifetimeSeconds,
  });
}

/** A loopback HTTP server answering `GET /jwks` with a fixed key set, counting requests. */
export class KeyServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly counter: { requests: number },
  ) {}

  /** Requests received so far. */
  get requests(): number {
    return this.counter.requests;
  }

  static async start(jwks: unknown): Promise<KeyServer> {
    const body = JSON.stringify(jwks);
    const counter = { requests: 0 };
    const server = createServer((req, res) => {
      counter.requests++;
      if (req.url !== '/jwks') {
        res.writeHead(404).end();
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=3600' })
        .end(body);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.unref();
    return new KeyServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`, counter);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
/** The claims of a token, read without verification (kept for older imports; see support/jwt.ts). */
export { payloadOf as claimsOf } from '../support/jwt.js';

/**
 * What the benches that need no control plane share: an RS256 key served by a loopback key server, one token of a
 * pod-bound ServiceAccount signed with it, and the local-mode configuration that trusts it (warm key set, 10,000
 * entries, 30 s JWKS cooldown; `cacheTtlSeconds` 600 unless given). `keys.close()` when done.
 */
export async function signedTokenFixture(
  issuer: string,
): Promise<{ keys: KeyServer; token: string; local: (cacheTtlSeconds?: number) => LocalAuthConfig }> {
  const key = generateBenchKey('RS256');
  const keys = await KeyServer.start({ keys: [key.jwk] });
  const token = signJwt(key, serviceAccountClaims(issuer, 0, '00000000-0000-4000-8000-000000000001'));
  const local = (cacheTtlSeconds = 600): LocalAuthConfig => ({
    kind: 'local',
    issuer,
    jwksUri: keys.url,
    cacheTtlSeconds,
    cacheMaxEntries: 10_000,
    jwksCooldownSeconds: 30,
    warm: true,
  });
  return { keys, token, local };
}
