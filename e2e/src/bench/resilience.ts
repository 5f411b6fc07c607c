import { randomBytes } from 'node:crypto';
import type { V1TokenReview } from '@kubernetes/client-node';
import {
  LocalVerifier,
  ServiceAccountVerifier,
  tokenReviewClient,
  TokenReviewVerifier,
  type FetchLike,
  type TokenReviewClient,
  type TokenReviewRequestOptions,
} from '@kube-service-auth/verifier';
import { ClusterClient, type ControlPlane } from '@kube-service-auth/testing';
import { reviewerKubeConfig, type Fixture } from './fixture.js';
import { AUDIENCE } from './protocol.js';
import { fmt } from './sections.js';
import { generateBenchKey, signJwt } from './tokens.js';
import { payloadOf } from '../support/jwt.js';

/** Valid callers under a flood of distinct tokens that the API server rejects (issue 10, item 3). */
export interface RejectionFloodResult {
  validCallers: number;
  validRequests: number;
  /** TokenReviews sent for the valid callers' tokens: one per caller when they stay cached. */
  validReviews: number;
  /** Valid requests answered from the cache, as a share of all valid requests. */
  validHitRate: number;
  rejectedTokens: number;
  rejectedReviews: number;
  successBound: number;
  rejectionBound: number;
  /** Entries held at the end, both pools: never above successBound + rejectionBound. */
  cacheHeld: number;
  refusedValid: number;
  seconds: number;
}

/** Fresh tokens signed by a new key right after the API server rotates it, during a random-kid flood (item 7). */
export interface RotationResult {
  freshTokens: number;
  /** Valid fresh tokens refused (target 0). */
  refused: number;
  reasons: Record<string, number>;
  /** Longest a fresh token waited for the key set that holds its kid. */
  maxWaitMs: number;
  cooldownSeconds: number;
  /** JWKS fetches while the flood ran, and the most one-per-cooldown allows. */
  fetches: number;
  bound: number;
  floodRequests: number;
  seconds: number;
}

/**
 * A TokenReview-mode verifier (review only, so every distinct token reaches the real API server) with small cache
 * bounds, fed rounds of the valid callers' tokens interleaved with distinct forged tokens the API server rejects. With
 * one shared bound the rejections would crowd the valid callers out; with separate bounds each valid caller is reviewed
 * once and then answered from the cache.
 */
export async function rejectionFloodSection(
  fixture: Fixture,
  log: (message: string) => void,
  rejectedTokens = 2000,
): Promise<RejectionFloodResult> {
  const valid = fixture.callerTokens;
  const validSet = new Set(valid);
  const claims = payloadOf(valid[0] as string);
  const throwaway = generateBenchKey('RS256');
  const forged = Array.from({ length: rejectedTokens }, () =>
    signJwt(throwaway, { ...claims, jti: randomBytes(16).toString('hex') }, fixture.signingJwk.kid),
  );
  const inner = tokenReviewClient(reviewerKubeConfig(fixture));
  let validReviews = 0;
  let rejectedReviews = 0;
  const client: TokenReviewClient = {
    createTokenReview(review: V1TokenReview, options?: TokenReviewRequestOptions) {
      if (validSet.has(review.spec.token ?? '')) validReviews++;
      else rejectedReviews++;
      return inner.createTokenReview(review, options);
    },
  };
  const successBound = valid.length;
  const rejectionBound = 200;
  const tokenReview = new TokenReviewVerifier({
    client,
    audience: AUDIENCE,
    requirePodBinding: true,
    cacheTtlSeconds: 300,
    cacheMaxEntries: successBound,
    negativeCacheTtlSeconds: 300,
    negativeCacheMaxEntries: rejectionBound,
    // Each round sends up to ~200 distinct tokens at once; this section is about the caches, not the in-flight cap.
    maxInflight: 1000,
  });
  const verifier = new ServiceAccountVerifier({ mode: 'tokenreview', tokenReview });
  const perRound = Math.ceil(rejectedTokens / 20);
  let validRequests = 0;
  let refusedValid = 0;
  const started = performance.now();
  for (let round = 0; round * perRound < forged.length; round++) {
    const batch = forged.slice(round * perRound, (round + 1) * perRound);
    await Promise.all([
      ...batch.map((token) =>
        verifier.verify(token).then(
          () => {
            throw new Error('a forged token was accepted');
          },
          () => undefined,
        ),
      ),
      ...valid.map(async (token) => {
        validRequests++;
        await verifier.verify(token).catch((err: unknown) => {
          refusedValid++;
          log(`  valid caller refused: ${(err as { code?: string }).code ?? String(err)}`);
        });
      }),
    ]);
  }
  const seconds = (performance.now() - started) / 1000;
  const validHitRate = 1 - validReviews / validRequests;
  const cacheHeld = tokenReview.cacheSize;
  log(
    `  ${valid.length} valid callers × ${validRequests / valid.length} rounds among ${rejectedTokens} rejected tokens: ${validReviews} reviews for valid callers ` +
      `(hit rate ${fmt(validHitRate * 100, 1)}%), ${rejectedReviews} for rejected tokens, ${cacheHeld} entries held (bound ${successBound} + ${rejectionBound}), ${refusedValid} valid refused`,
  );
  return {
    validCallers: valid.length,
    validRequests,
    validReviews,
    validHitRate,
    rejectedTokens,
    rejectedReviews,
    successBound,
    rejectionBound,
    cacheHeld,
    refusedValid,
    seconds,
  };
}

/**
 * Key rotation as the API server does it: restarted with a new signing key (the old one still trusted). A random-kid
 * flood runs all along, spending the unknown-kid fetches; right after the restart, fresh tokens minted by TokenRequest
 * (signed by the new key) are verified. None may be refused, and the flood still gets at most one fetch per cooldown.
 * Restarts the API server: run it last.
 */
export async function rotationSection(
  cp: ControlPlane,
  fixture: Fixture,
  log: (message: string) => void,
  freshTokens = 20,
): Promise<RotationResult> {
  let fetches = 0;
  const counting: FetchLike = (url, init) => {
    if (String(url).includes('jwks')) fetches++;
    return fixture.fetch(url, init);
  };
  const cooldownSeconds = 5;
  const local = new LocalVerifier({
    issuers: [fixture.issuer],
    audience: AUDIENCE,
    fetch: counting,
    requirePodBinding: true,
    jwks: { cooldown: cooldownSeconds },
  });
  await local.warm();
  const claims = payloadOf(fixture.callerTokens[0] as string);
  const throwaway = generateBenchKey('RS256');
  let flooding = true;
  let floodRequests = 0;
  const fetchesBefore = fetches;
  const started = performance.now();
  const flood = (async () => {
    while (flooding) {
      const token = signJwt(
        throwaway,
        { ...claims, jti: randomBytes(8).toString('hex') },
        randomBytes(12).toString('base64url'),
      );
      floodRequests++;
      await Promise.race([
        local.verify(token).catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 20)),
      ]);
    }
  })();
  // Let the flood spend a fetch first, so the rotation lands inside a cooldown.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await cp.restartApiServer({ signingKey: 'new' });
  const admin = new ClusterClient(cp.kubeConfig());
  const callers = fixture.callerTokens.slice(0, freshTokens).map((token) => {
    const pod = (payloadOf(token)['kubernetes.io'] as { pod: { name: string; uid: string } }).pod;
    return { name: pod.name, uid: pod.uid };
  });
  const minted = await Promise.all(
    callers.map(
      async (pod) =>
        (
          await admin.requestToken({
            namespace: 'api',
            serviceAccount: 'api',
            audiences: [AUDIENCE],
            expirationSeconds: 3600,
            pod,
          })
        ).token,
    ),
  );
  const reasons: Record<string, number> = {};
  let refused = 0;
  let maxWaitMs = 0;
  await Promise.all(
    minted.map(async (token) => {
      const t0 = performance.now();
      try {
        await local.verify(token);
      } catch (err) {
        refused++;
        const code = (err as { code?: string }).code ?? 'thrown';
        reasons[code] = (reasons[code] ?? 0) + 1;
      }
      maxWaitMs = Math.max(maxWaitMs, performance.now() - t0);
    }),
  );
  flooding = false;
  await flood;
  const seconds = (performance.now() - started) / 1000;
  const during = fetches - fetchesBefore;
  const bound = Math.ceil(seconds / cooldownSeconds);
  log(
    `  ${minted.length} fresh tokens after the rotation: ${refused} refused ${JSON.stringify(reasons)}, longest wait ${fmt(maxWaitMs, 0)} ms; ` +
      `flood ${floodRequests} requests, ${during} JWKS fetches in ${fmt(seconds, 1)} s (bound ${bound})`,
  );
  return {
    freshTokens: minted.length,
    refused,
    reasons,
    maxWaitMs,
    cooldownSeconds,
    fetches: during,
    bound,
    floodRequests,
    seconds,
  };
}
