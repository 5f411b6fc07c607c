import { randomBytes } from 'node:crypto';
import type { V1TokenReview } from '@kubernetes/client-node';
import {
  LocalVerifier,
  ServiceAccountVerifier,
  tokenReviewClient,
  TokenReviewVerifier,
  type TokenReviewClient,
  type TokenReviewRequestOptions,
} from '@kube-service-auth/verifier';
import { payloadOf } from '../support/jwt.js';
import { reviewerKubeConfig, type Fixture } from './fixture.js';
import { AUDIENCE } from './protocol.js';
import { fmt } from './sections.js';
import { generateBenchKey, signJwt } from './tokens.js';

/** One run of the forged-token flood through a TokenReview-mode verifier. */
export interface ForgedRun {
  label: string;
  /** TokenReviews that reached the real API server. */
  tokenReviews: number;
  /** Most reviews in flight at once. */
  peakInflight: number;
  refused: number;
  accepted: number;
  reasons: Record<string, number>;
  seconds: number;
}

export interface ForgedResult {
  tokens: number;
  concurrency: number;
  runs: ForgedRun[];
}

/**
 * Distinct forged tokens against a TokenReview-mode verifier, in process, against the real API server: the claims of
 * a real token (issuer, audience, times, pod binding) under the real `kid`, signed by a throwaway key, each with its own
 * `jti` so that no cache answers twice. Counts the TokenReviews the flood causes without the offline pre-check (the
 * behaviour before issue 10) and with it.
 */
export async function forgedFloodSection(
  fixture: Fixture,
  log: (message: string) => void,
  tokens = 10_000,
  concurrency = 50,
): Promise<ForgedResult> {
  const real = fixture.callerTokens[0] as string;
  const claims = payloadOf(real);
  const throwaway = generateBenchKey('RS256');
  const forged = Array.from({ length: tokens }, () =>
    signJwt(throwaway, { ...claims, jti: randomBytes(16).toString('hex') }, fixture.signingJwk.kid),
  );
  const kc = reviewerKubeConfig(fixture);
  const runs: ForgedRun[] = [];
  for (const precheck of [false, true]) {
    const inner = tokenReviewClient(kc);
    let reviews = 0;
    let inflight = 0;
    let peakInflight = 0;
    const client: TokenReviewClient = {
      async createTokenReview(review: V1TokenReview, options?: TokenReviewRequestOptions) {
        reviews++;
        peakInflight = Math.max(peakInflight, ++inflight);
        try {
          return await inner.createTokenReview(review, options);
        } finally {
          inflight--;
        }
      },
    };
    const tokenReview = new TokenReviewVerifier({ client, audience: AUDIENCE, requirePodBinding: true });
    const local = precheck
      ? new LocalVerifier({
          issuers: [fixture.issuer],
          audience: AUDIENCE,
          fetch: fixture.fetch,
          requirePodBinding: true,
        })
      : undefined;
    await local?.warm();
    const verifier = new ServiceAccountVerifier({ mode: 'tokenreview', tokenReview, local });
    const reasons: Record<string, number> = {};
    let accepted = 0;
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < forged.length) {
          const token = forged[next++] as string;
          try {
            await verifier.verify(token);
            accepted++;
          } catch (err) {
            const code = (err as { code?: string }).code ?? 'thrown';
            reasons[code] = (reasons[code] ?? 0) + 1;
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const label = precheck
      ? 'TokenReview mode with the offline pre-check'
      : 'TokenReview mode, review only (before issue 10)';
    const refused = tokens - accepted;
    runs.push({ label, tokenReviews: reviews, peakInflight, refused, accepted, reasons, seconds });
    log(
      `  ${label}: ${reviews} TokenReviews for ${tokens} forged tokens (${accepted} accepted), ${fmt(seconds, 1)} s, reasons ${JSON.stringify(reasons)}`,
    );
  }
  return { tokens, concurrency, runs };
}
