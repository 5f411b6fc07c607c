/**
 * Revocation without an API call per request: a list + watch of the callers' pods and ServiceAccounts
 * (`bound-object-watch.ts`), the API server's rules for a bound token applied to what the watch holds
 * (`revocation-checker.ts`), and the verifier that puts both after local verification, falling back to TokenReview
 * where the watch cannot judge ({@link WatchRevocationVerifier}).
 */
import { confirmByReview } from '../authn/confirm.js';
import type { TokenReviewVerifier } from '../authn/token-review.js';
import type { Verifier, VerifyOptions } from '../authn/verifier.js';
import { KubeAuthError } from '../errors.js';
import type { ServiceAccountIdentity } from '../identity/identity.js';
import { chain, type MaybePromise } from '../lib/maybe-promise.js';
import type { CheckedToken } from '../token/checked-token.js';
import { decodeUnverified } from '../token/unverified.js';
import {
  tokenBinding,
  type RevocationChecker,
  type RevocationVerdict,
  type TokenBinding,
} from './revocation-checker.js';

/** Options of {@link WatchRevocationVerifier}. */
export interface WatchRevocationVerifierOptions {
  /** Verifies tokens offline (a local-mode {@link ServiceAccountVerifier} or anything with the same contract). */
  verifier: Verifier;
  checker: RevocationChecker;
  /**
   * Asked when the watch cannot judge a token (namespace not watched, watch stale or not synced, a live read failed,
   * a Secret- or Node-bound token). Without it, such tokens are refused as `revocation_unavailable` (503).
   */
  fallback?: TokenReviewVerifier;
  /**
   * Identities for which the revocation check is worth doing; default all. createKubeAuth passes the policy here, so
   * that a caller the policy refuses anyway costs no live read and no TokenReview.
   */
  shouldCheck?: (identity: ServiceAccountIdentity) => boolean;
}

/**
 * Local verification plus revocation at local speed: every verified token is checked against the
 * {@link RevocationChecker}'s watch of pods and ServiceAccounts, on every route and every request (the check is a few
 * map lookups, with no API call), so a deleted pod's token is refused about as soon as the watch sees the deletion.
 * A token the watch cannot judge falls back to TokenReview, or is refused as unavailable: never accepted unchecked.
 */
export class WatchRevocationVerifier implements Verifier {
  readonly mode = 'local' as const;
  /** True: the watch applies the API server's revocation rules on every request, revocation-sensitive or not. */
  readonly canReview = true;
  readonly checker: RevocationChecker;
  private readonly verifier: Verifier;
  private readonly fallback: TokenReviewVerifier | undefined;
  private readonly shouldCheck: (identity: ServiceAccountIdentity) => boolean;
  // One binding per verified identity: cached identities are frozen and shared, so a repeat caller costs a lookup.
  private readonly bindings = new WeakMap<ServiceAccountIdentity, TokenBinding>();

  constructor(options: WatchRevocationVerifierOptions) {
    if (options.verifier.mode !== 'local') throw new TypeError('WatchRevocationVerifier wraps a local-mode verifier');
    this.verifier = options.verifier;
    this.checker = options.checker;
    this.fallback = options.fallback;
    this.shouldCheck = options.shouldCheck ?? (() => true);
  }

  /** Whether the watch can currently judge revocation (synced, not stale): what a readiness probe should report. */
  get ready(): boolean {
    return this.checker.watch.ready;
  }

  requireReview(): void {}

  async verify(token: string | CheckedToken, options: VerifyOptions = {}): Promise<ServiceAccountIdentity> {
    return this.check(token, options);
  }

  /** As {@link verify}; synchronous when the offline result is cached and the watch can judge (the common case). */
  check(token: string | CheckedToken, _options: VerifyOptions = {}): MaybePromise<ServiceAccountIdentity> {
    // revocationSensitive is satisfied by the watch itself: it applies the API server's rules on every request.
    return chain(this.verifier.check(token, OFFLINE), (verified) => this.judge(token, verified));
  }

  private judge(token: string | CheckedToken, identity: ServiceAccountIdentity): MaybePromise<ServiceAccountIdentity> {
    if (!this.shouldCheck(identity)) return identity;
    const binding = this.bindingOf(token, identity);
    const verdict = this.checker.checkCached(binding);
    if (verdict) return this.settle(token, identity, verdict);
    return this.checker.check(binding).then((checked) => this.settle(token, identity, checked));
  }

  /**
   * The identity's binding, plus the `kubernetes.io.secret` reference the identity does not carry (a Secret-bound
   * token: the checker leaves those to TokenReview). The payload is read from the token just verified.
   */
  private bindingOf(token: string | CheckedToken, identity: ServiceAccountIdentity): TokenBinding {
    const known = this.bindings.get(identity);
    if (known) return known;
    const binding = tokenBinding(identity);
    const secret = secretClaim(typeof token === 'string' ? token : token.value);
    if (secret) binding.secret = secret;
    if (Object.isFrozen(identity)) this.bindings.set(identity, binding);
    return binding;
  }

  private settle(
    token: string | CheckedToken,
    identity: ServiceAccountIdentity,
    verdict: RevocationVerdict,
  ): MaybePromise<ServiceAccountIdentity> {
    switch (verdict.status) {
      case 'valid':
        return identity;
      case 'revoked':
        throw new KubeAuthError('token_revoked', `the token is revoked: ${verdict.message}`);
      case 'unknown': {
        if (!this.fallback) {
          throw new KubeAuthError(
            'revocation_unavailable',
            `cannot check revocation: ${verdict.message}, and no TokenReview fallback is configured`,
          );
        }
        return chain(this.fallback.check(token), (reviewed) => confirmByReview(identity, reviewed, 'offline'));
      }
    }
  }
}

const OFFLINE: VerifyOptions = Object.freeze({ revocationSensitive: false });

/** The `kubernetes.io.secret` binding of a token that was just verified (so its payload is genuine). */
function secretClaim(token: string): { name: string; uid: string } | undefined {
  const k8s = decodeUnverified(token)?.payload['kubernetes.io'] as
    { secret?: { name?: unknown; uid?: unknown } } | undefined;
  const secret = k8s?.secret;
  return typeof secret?.name === 'string' && typeof secret.uid === 'string'
    ? { name: secret.name, uid: secret.uid }
    : undefined;
}
