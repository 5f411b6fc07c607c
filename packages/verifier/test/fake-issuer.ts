/**
 * Helpers for the unit tests of this package: keys, Kubernetes-shaped ServiceAccount tokens and a fake API server
 * (discovery document and JWKS) behind an injected {@link FetchLike}. Imported only by `*.test.ts` files; it is kept
 * out of the published package by the `files` list.
 */
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose';
import type { V1TokenReview, V1TokenReviewStatus } from '@kubernetes/client-node';
import type { FetchLike } from '../src/kube/http.js';
import type { TokenReviewClient, TokenReviewRequestOptions } from '../src/kube/review-clients.js';
import { KubeAuthError, type ReasonCode } from '../src/errors.js';
import { identityFromClaims, identityToUserInfo } from '../src/identity/identity.js';

export type TestAlg = 'RS256' | 'RS384' | 'ES256' | 'ES384' | 'ES512';
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
export type TestPrivateKey = KeyPair['privateKey'];

/** A signing key of the fake issuer, with its public JWK as Kubernetes publishes it (`use: sig`, `alg`, `kid`). */
export interface TestKey {
  kid: string;
  alg: TestAlg;
  privateKey: TestPrivateKey;
  publicKey: KeyPair['publicKey'];
  publicJwk: JWK;
}

export async function generateTestKey(alg: TestAlg, kid: string = `kid-${alg.toLowerCase()}`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const AUDIENCE = 'data-store';
/** A fixed "now" for the injected clocks, in ms (a whole second). */
export const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

/** What {@link signToken} builds. `claims` entries set to `undefined` delete the claim. */
export interface TokenSpec {
  issuer?: string;
  audience?: string[];
  namespace?: string;
  serviceAccount?: string;
  /** Issued-at in ms; default {@link T0}. `nbf` equals it, as the API server sets them. */
  issuedAt?: number;
  /** Lifetime in seconds; default 600. */
  lifetimeSeconds?: number;
  /** `null` leaves the token unbound (no pod claim). */
  pod?: { name: string; uid: string } | null;
  /** `null` omits the node claim. */
  node?: { name: string; uid: string } | null;
  /** Overrides of top-level claims; `undefined` removes one. */
  claims?: Record<string, unknown>;
  /** Overrides of the protected header (`alg` and `kid` default to the key's). */
  header?: Partial<JWTHeaderParameters> & Record<string, unknown>;
  /** Extensions the signer accepts in `crit` (jose refuses to sign unknown ones otherwise). */
  crit?: Record<string, boolean>;
}

/** The claims of a Kubernetes projected ServiceAccount token, after the spec's overrides. */
export function kubernetesClaims(spec: TokenSpec = {}): JWTPayload {
  const namespace = spec.namespace ?? 'api';
  const name = spec.serviceAccount ?? 'api';
  const iat = Math.floor((spec.issuedAt ?? T0) / 1000);
  const exp = iat + (spec.lifetimeSeconds ?? 600);
  const pod = spec.pod === undefined ? { name: `${name}-7d4b9c-x2x9z`, uid: 'pod-uid-1' } : spec.pod;
  const node = spec.node === undefined ? { name: 'node-1', uid: 'node-uid-1' } : spec.node;
  const k8s: Record<string, unknown> = {
    namespace,
    serviceaccount: { name, uid: `sa-uid-${namespace}-${name}` },
    warnafter: iat + 3600,
  };
  if (pod) k8s.pod = pod;
  if (node) k8s.node = node;
  const claims: Record<string, unknown> = {
    iss: spec.issuer ?? ISSUER,
    sub: `system:serviceaccount:${namespace}:${name}`,
    aud: spec.audience ?? [AUDIENCE],
    exp,
    iat,
    nbf: iat,
    jti: 'jti-0b1c2d3e',
    'kubernetes.io': k8s,
  };
  for (const [claim, value] of Object.entries(spec.claims ?? {})) {
    if (value === undefined) delete claims[claim];
    else claims[claim] = value;
  }
  return claims;
}

/** Signs a Kubernetes-shaped token with `key`. */
export async function signToken(key: TestKey, spec: TokenSpec = {}): Promise<string> {
  const header: JWTHeaderParameters = { alg: key.alg, kid: key.kid, typ: 'JWT', ...spec.header };
  const jwt = new SignJWT(kubernetesClaims(spec)).setProtectedHeader(header);
  return spec.crit ? jwt.sign(key.privateKey, { crit: spec.crit }) : jwt.sign(key.privateKey);
}

export function base64url(value: string | Uint8Array): string {
  return Buffer.from(value).toString('base64url');
}

/** A hand-made compact JWS from raw header and payload JSON (no real signature). */
export function craftToken(
  header: unknown,
  payload: unknown,
  signature: string = base64url('not-a-signature'),
): string {
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}.${signature}`;
}

/** A JWK Set document. */
export function jwks(...keys: Array<TestKey | JWK>): { keys: JWK[] } {
  return { keys: keys.map((k) => ('publicJwk' in k ? k.publicJwk : k)) };
}

/** One answer of the fake network. */
export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/**
 * A fake API server for discovery and JWKS. Every request is recorded in `calls`; `mode` switches it between
 * answering, failing with HTTP 500, refusing the connection, and hanging until the request's AbortSignal fires.
 */
export class FakeIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  keys: Array<TestKey | JWK>;
  cacheControl: string | undefined = 'public, max-age=3600';
  /** What the discovery document says the issuer is; defaults to the real one. */
  discoveryIssuer: string;
  mode: 'up' | 'http500' | 'refused' | 'hang' = 'up';
  /** Replaces the JWK Set document (e.g. with something that is not one). */
  jwksBody: unknown = undefined;
  readonly calls: string[] = [];

  constructor(options: { issuer?: string; jwksUri?: string; keys?: Array<TestKey | JWK> } = {}) {
    this.issuer = options.issuer ?? ISSUER;
    this.jwksUri = options.jwksUri ?? `${this.issuer}/openid/v1/jwks`;
    this.discoveryIssuer = this.issuer;
    this.keys = options.keys ?? [];
  }

  get discoveryUrl(): string {
    return `${this.issuer}/.well-known/openid-configuration`;
  }

  /** Requests for the key set (not the discovery document). */
  get jwksCalls(): number {
    return this.calls.filter((u) => u === this.jwksUri).length;
  }

  readonly fetch: FetchLike = (url, init) => {
    this.calls.push(url);
    if (this.mode === 'refused') return Promise.reject(new TypeError('fetch failed (ECONNREFUSED)'));
    if (this.mode === 'hang') {
      return new Promise((_, reject) => {
        init.signal.addEventListener('abort', () => reject(init.signal.reason as Error), { once: true });
      });
    }
    if (this.mode === 'http500') return Promise.resolve(respond({ status: 500, body: { message: 'boom' } }));
    if (url === this.discoveryUrl) {
      return Promise.resolve(
        respond({
          status: 200,
          body: {
            issuer: this.discoveryIssuer,
            jwks_uri: this.jwksUri,
            response_types_supported: ['id_token'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256'],
          },
        }),
      );
    }
    if (url === this.jwksUri) {
      const headers: Record<string, string> = { 'content-type': 'application/jwk-set+json' };
      if (this.cacheControl !== undefined) headers['cache-control'] = this.cacheControl;
      return Promise.resolve(respond({ status: 200, headers, body: this.jwksBody ?? jwks(...this.keys) }));
    }
    return Promise.resolve(respond({ status: 404, body: { message: 'not found' } }));
  };
}

/** A {@link FetchLike} response. */
export function respond(response: FakeResponse): Awaited<ReturnType<FetchLike>> {
  const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body ?? null);
  return { status: response.status, headers: new Headers(response.headers ?? {}), text: async () => text };
}

/** A mutable fake clock: `clock()` reads `now`, tests move it. */
export function fakeClock(start: number = T0): {
  clock: () => number;
  set(ms: number): void;
  advance(seconds: number): void;
  now(): number;
} {
  let now = start;
  return {
    clock: () => now,
    set: (ms) => {
      now = ms;
    },
    advance: (seconds) => {
      now += seconds * 1000;
    },
    now: () => now,
  };
}

/** Runs `fn` and returns the {@link KubeAuthError} it rejects with; fails if it resolves or throws anything else. */
export async function rejection(fn: () => Promise<unknown>): Promise<KubeAuthError> {
  let result: unknown;
  try {
    result = await fn();
  } catch (err) {
    if (err instanceof KubeAuthError) return err;
    throw new Error(`expected a KubeAuthError, got ${String(err)}`, { cause: err });
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
}

/** The reason code `fn` rejects with. */
export async function reasonOf(fn: () => Promise<unknown>): Promise<ReasonCode> {
  return (await rejection(fn)).code;
}

/** Lets pending promise callbacks and I/O callbacks run (background refreshes); not a timer-based sleep. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The `status` the API server gives a valid token: the user (name, uid, groups, pod/node/credential-id extras) as the
 * identity model writes it from the token's own claims, and the audiences.
 */
export function reviewStatusFor(token: string, audiences: string[] = [AUDIENCE]): V1TokenReviewStatus {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  const own = [payload.aud ?? []].flat().filter((a): a is string => typeof a === 'string');
  return { authenticated: true, user: identityToUserInfo(identityFromClaims(payload, own)), audiences };
}

/**
 * A fake TokenReview client. `answer` decides each review (by default: authenticated as the token says); every request
 * is kept in `requests`.
 */
export class FakeTokenReviewClient implements TokenReviewClient {
  readonly requests: V1TokenReview[] = [];
  answer: (review: V1TokenReview) => Promise<V1TokenReviewStatus | undefined> = async (review) =>
    reviewStatusFor(review.spec.token ?? '');

  async createTokenReview(review: V1TokenReview, _options?: TokenReviewRequestOptions): Promise<V1TokenReview> {
    this.requests.push(review);
    const status = await this.answer(review);
    return { ...review, status };
  }
}
