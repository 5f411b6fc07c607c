import { createPublicKey, verify, webcrypto, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { LocalVerifier, Policy, ServiceAccountVerifier, type FetchLike } from '@kube-service-auth/verifier';
import { kubeAuth } from '@kube-service-auth/verifier/express';
import type { NextFunction, Request, Response } from 'express';
import { importJWK, jwtVerify, type JWK } from 'jose';
import { AUDIENCE } from './protocol.js';
import { quartiles } from './sections.js';
import { generateBenchKey, KeyServer, serviceAccountClaims, signJwt } from './tokens.js';

export interface RawResult {
  name: string;
  /** One line on what is measured. */
  what: string;
  opsPerSecond: number;
  microsPerOp: number;
  /** ops/s as a fraction of the crypto.verify floor. */
  ofFloor: number;
  iterations: number;
  /** ops/s of each round, to show the noise; `opsPerSecond` is the fastest. */
  rounds: number[];
  /** Paths compared with their floor in paired chunks (see {@link rawVerification}): the per-pair ratios. */
  paired?: PairedRatio;
}

/** Throughput as a fraction of the floor's, pair by pair (floor cost / path cost, CPU time of each chunk). */
export interface PairedRatio {
  median: number;
  /** Quartiles and extremes of the pairs. */
  q1: number;
  q3: number;
  low: number;
  high: number;
  pairs: number;
  /** Calls per chunk. */
  callsPerChunk: number;
}

export interface RawOptions {
  token: string;
  jwk: JWK;
  issuer: string;
  /** Fetches the real JWKS (the data store's ServiceAccount token and the cluster CA). */
  fetch: FetchLike;
  iterations: number;
  rounds: number;
  /** Upper bound of one round of one operation, in ms. */
  maxRoundMs: number;
  /** Pairs of chunks (floor, path) for the paths judged against a floor, and the CPU time of one chunk in ms. */
  pairs: number;
  chunkMs: number;
}

/** jose 4, as bundled with express-oauth2-jwt-bearer (its Node build verifies with node:crypto, not WebCrypto). */
interface Jose4 {
  jwtVerify(
    token: string,
    key: KeyObject,
    options: { issuer: string; audience: string; algorithms: string[] },
  ): Promise<{ payload: { sub?: string } }>;
}

function loadJose4(): Jose4 {
  const require = createRequire(import.meta.url);
  return createRequire(require.resolve('express-oauth2-jwt-bearer'))('jose') as Jose4;
}

interface Op {
  name: string;
  what: string;
  run: () => unknown;
  async: boolean;
  /** The floor this op is compared with (default: the RS256 crypto.verify floor). */
  floor?: string;
  /** Also measured in pairs of chunks against its floor (the paths a target is judged on). */
  paired?: boolean;
}

const ES256_FLOOR = 'crypto.verify ES256 (floor)';
/** Controls: the least work of a JWT verifier, measured against the floors (the ceiling of the cache-off targets). */
export const MINIMAL_RS256 = 'minimal JWT check (ceiling)';
export const MINIMAL_ES256 = 'minimal JWT check ES256 (ceiling)';

/**
 * The least any JWT verifier must do with a token it has not seen before: find the two dots, base64url-decode and
 * `JSON.parse` the payload, compare `iss`, `aud` and `exp`, decode the signature and check it over the signing input.
 * Nothing else: no shape check, no header (so no `alg` allow-list and no `kid`), no `nbf`/`iat`, no binding, no
 * identity. Not safe to use (it trusts the header it never reads); it is a yardstick: a real verifier does all of
 * this and more, so its cost can come near this one's, not below it.
 */
export function minimalVerify(token: string, issuer: string, key: Parameters<typeof verify>[2]): boolean {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString()) as {
    iss?: unknown;
    aud?: unknown;
    exp?: unknown;
  };
  const aud = payload.aud;
  if (
    payload.iss !== issuer ||
    !(aud === AUDIENCE || (Array.isArray(aud) && aud.includes(AUDIENCE))) ||
    typeof payload.exp !== 'number' ||
    payload.exp * 1000 <= Date.now()
  )
    return false;
  return verify(
    'sha256',
    Buffer.from(token.slice(0, second), 'latin1'),
    key,
    Buffer.from(token.slice(second + 1), 'base64url'),
  );
}

/**
 * Verification cost on one core, in this process, warm: the same real RS256 token from the API server, verified N
 * times in a row by each path. Rounds are interleaved (op A, B, C, then C, B, A) so that noise from other processes on
 * the machine, and the garbage one op leaves for the next to collect, spread over all of them; the fastest round is
 * reported for every op alike (noise only ever slows a round down).
 */
export async function rawVerification(options: RawOptions): Promise<RawResult[]> {
  const { token, jwk, issuer } = options;
  const [h, p, s] = token.split('.') as [string, string, string];
  const data = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, 'base64url');
  const keyObject = createPublicKey({ key: jwk, format: 'jwk' });
  const cryptoKey = await webcrypto.subtle.importKey(
    'jwk',
    jwk as webcrypto.JsonWebKey,
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  const joseKey = await importJWK(jwk, 'RS256');
  const jose4 = loadJose4();
  const verifier = (cacheTtlSeconds: number) =>
    new LocalVerifier({
      issuers: [issuer],
      audience: AUDIENCE,
      fetch: options.fetch,
      requirePodBinding: true,
      cacheTtlSeconds,
    });
  const uncached = verifier(0);
  const cached = verifier(60);
  await Promise.all([uncached.warm(), cached.warm()]);
  const middleware = kubeAuth({
    verifier: new ServiceAccountVerifier({ mode: 'local', local: cached }),
    policy: new Policy({ allow: ['system:serviceaccount:api:*'] }),
  });
  // Only what the middleware reads on the accepted path; it writes req.kubeAuth and calls next().
  const request = { headers: { authorization: `Bearer ${token}` }, method: 'GET', path: '/data' } as unknown as Request;
  const response = {} as Response;
  // ES256: Kubernetes signs with it when its key is an EC key. Signed here (the API server's key is RSA), served by a
  // loopback key server.
  const ecKey = generateBenchKey('ES256');
  const ecKeys = await KeyServer.start({ keys: [ecKey.jwk] });
  const ecIssuer = 'https://raw-bench.kube-service-auth.invalid';
  const ecToken = signJwt(ecKey, serviceAccountClaims(ecIssuer, 0, '00000000-0000-4000-8000-000000000001'));
  const [eh, ep, es] = ecToken.split('.') as [string, string, string];
  const ecData = Buffer.from(`${eh}.${ep}`);
  const ecSignature = Buffer.from(es, 'base64url');
  const ecKeyObject = createPublicKey({ key: ecKey.jwk, format: 'jwk' });
  const ecUncached = new LocalVerifier({
    issuers: [{ issuer: ecIssuer, jwksUri: ecKeys.url }],
    audience: AUDIENCE,
    fetch: globalThis.fetch,
    requirePodBinding: true,
    cacheTtlSeconds: 0,
  });
  await ecUncached.warm();
  const check = (ok: boolean) => {
    if (!ok) throw new Error('a verification failed during the benchmark');
  };
  const esKey = { key: ecKeyObject, dsaEncoding: 'ieee-p1363' as const };

  const ops: Op[] = [
    {
      name: 'crypto.verify (floor)',
      what: "node:crypto `verify('sha256', data, key, sig)` of the token's RS256 signature, key and buffers prepared",
      async: false,
      run: () => check(verify('sha256', data, keyObject, signature)),
    },
    {
      name: ES256_FLOOR,
      what: "node:crypto `verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig)` of an ES256 token's signature",
      async: false,
      floor: ES256_FLOOR,
      run: () => check(verify('sha256', ecData, { key: ecKeyObject, dsaEncoding: 'ieee-p1363' }, ecSignature)),
    },
    {
      name: 'LocalVerifier.verify ES256, cache off',
      what: 'our local path with `cacheTtlSeconds: 0` on an ES256 token: the same work as the RS256 row',
      async: true,
      floor: ES256_FLOOR,
      paired: true,
      run: async () => check((await ecUncached.verify(ecToken)).namespace === 'api'),
    },
    {
      name: MINIMAL_ES256,
      what: 'the same least work as the RS256 row below, on the ES256 token',
      async: false,
      floor: ES256_FLOOR,
      paired: true,
      run: () => check(minimalVerify(ecToken, ecIssuer, esKey)),
    },
    {
      name: 'crypto.subtle.verify',
      what: 'WebCrypto RSASSA-PKCS1-v1_5 verify of the same signature (what jose 6 calls on Node)',
      async: true,
      run: async () => check(await webcrypto.subtle.verify('RSASSA-PKCS1-v1_5', cryptoKey, signature, data)),
    },
    {
      name: 'jose.jwtVerify',
      what: 'jose 6 `jwtVerify` with an imported key: parse, signature, iss/aud/exp checks',
      async: true,
      run: async () =>
        check(
          (await jwtVerify(token, joseKey, { issuer, audience: AUDIENCE, algorithms: ['RS256'] })).payload.sub !==
            undefined,
        ),
    },
    {
      name: 'jose 4 jwtVerify',
      what: 'jose 4 (the copy inside express-oauth2-jwt-bearer) `jwtVerify` with a KeyObject: node:crypto underneath',
      async: true,
      run: async () =>
        check(
          (await jose4.jwtVerify(token, keyObject, { issuer, audience: AUDIENCE, algorithms: ['RS256'] })).payload
            .sub !== undefined,
        ),
    },
    {
      name: MINIMAL_RS256,
      what: 'the least any JWT verifier does with a token it has not seen (see `minimalVerify`): decode and parse the payload, compare iss/aud/exp, decode and check the signature',
      async: false,
      paired: true,
      run: () => check(minimalVerify(token, issuer, keyObject)),
    },
    {
      name: 'LocalVerifier.verify, cache off',
      what: 'our local path with `cacheTtlSeconds: 0`: shape checks, decode, node:crypto verify, claims, pod binding',
      async: true,
      paired: true,
      run: async () => check((await uncached.verify(token)).namespace === 'api'),
    },
    {
      name: 'LocalVerifier.check, cache off',
      what: 'the same, through `check` (synchronous when the key is held): what the adapters call on every request',
      async: false,
      paired: true,
      run: () => check((uncached.check(token) as { namespace: string }).namespace === 'api'),
    },
    {
      name: 'LocalVerifier.verify, cache on',
      what: 'our local path, repeat caller: SHA-256 of the token and a cache lookup',
      async: true,
      run: async () => check((await cached.verify(token)).namespace === 'api'),
    },
    {
      name: 'kubeAuth middleware, cache on',
      what: 'the whole express middleware on an accepted repeat caller (mock req/res): header parsing, verify, policy',
      async: true,
      run: () =>
        new Promise<void>((resolve, reject) => {
          const next: NextFunction = (error?: unknown) =>
            error
              ? reject(error instanceof Error ? error : new Error('next() was called with a non-Error'))
              : resolve();
          void middleware(request, response, next);
        }),
    },
  ];

  const measure = async (op: Op, iterations: number, maxMs: number): Promise<{ ops: number; n: number }> => {
    const deadline = performance.now() + maxMs;
    let n = 0;
    const start = performance.now();
    if (op.async) {
      while (n < iterations && (n % 256 !== 0 || performance.now() < deadline)) {
        await op.run();
        n++;
      }
    } else {
      while (n < iterations && (n % 256 !== 0 || performance.now() < deadline)) {
        op.run();
        n++;
      }
    }
    const elapsed = performance.now() - start;
    return { ops: (n / elapsed) * 1000, n };
  };

  // Warm-up: JIT, key import caches, the verified-token cache entry.
  for (const op of ops) await measure(op, Math.max(200, Math.floor(options.iterations / 10)), options.maxRoundMs);

  const rounds = new Map<string, { ops: number[]; n: number }>(ops.map((op) => [op.name, { ops: [], n: 0 }]));
  for (let r = 0; r < options.rounds; r++) {
    for (const op of r % 2 === 0 ? ops : [...ops].reverse()) {
      const result = await measure(op, options.iterations, options.maxRoundMs);
      const entry = rounds.get(op.name) as { ops: number[]; n: number };
      entry.ops.push(result.ops);
      entry.n += result.n;
    }
  }
  // Paired chunks: each judged path against its floor, back to back (in alternating order), by CPU time. Whatever else
  // the machine does in that moment (another VM on the core, a collection) hits both chunks of a pair alike, so the
  // ratio of a pair moves far less than the fastest rounds of two paths measured seconds apart.
  const cpuMicros = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const chunk = async (op: Op, calls: number): Promise<number> => {
    const t = cpuMicros();
    if (op.async) for (let i = 0; i < calls; i++) await op.run();
    else for (let i = 0; i < calls; i++) op.run();
    return (cpuMicros() - t) / calls;
  };
  const paired = new Map<string, PairedRatio>();
  for (const op of ops.filter((o) => o.paired)) {
    const floorOp = ops.find((o) => o.name === (op.floor ?? ops[0]!.name)) as Op;
    const floorRate = Math.max(...(rounds.get(floorOp.name) as { ops: number[] }).ops);
    const calls = Math.max(20, Math.round((options.chunkMs / 1000) * floorRate));
    await chunk(op, calls);
    await chunk(floorOp, calls);
    const ratios: number[] = [];
    for (let i = 0; i < options.pairs; i++) {
      if (i % 2 === 0) {
        const f = await chunk(floorOp, calls);
        ratios.push(f / (await chunk(op, calls)));
      } else {
        const o = await chunk(op, calls);
        ratios.push((await chunk(floorOp, calls)) / o);
      }
    }
    paired.set(op.name, { ...quartiles(ratios), pairs: ratios.length, callsPerChunk: calls });
  }
  await ecKeys.close();
  const best = (values: number[]) => Math.max(...values);
  const floorOf = (op: Op) => best((rounds.get(op.floor ?? ops[0]!.name) as { ops: number[] }).ops);
  return ops.map((op) => {
    const entry = rounds.get(op.name) as { ops: number[]; n: number };
    const opsPerSecond = best(entry.ops);
    const floor = floorOf(op);
    return {
      name: op.name,
      what: op.what,
      opsPerSecond,
      microsPerOp: 1e6 / opsPerSecond,
      ofFloor: opsPerSecond / floor,
      iterations: entry.n,
      rounds: entry.ops,
      paired: paired.get(op.name),
    };
  });
}
