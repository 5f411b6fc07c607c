import type { BoundObjectWatch, WatchedResource } from './bound-object-watch.js';
import { systemClock, type Clock } from '../clock.js';
import type { BoundObject, ServiceAccountIdentity } from '../identity/identity.js';
import type { ObjectMeta } from '../kube/metadata-client.js';
import { numberOption } from '../options.js';

/**
 * The objects a verified token names, as the API server reads them from the `kubernetes.io` claim. `secret` and a
 * `node` without a `pod` are bindings this checker does not follow (it answers `unsupported` for them).
 */
export interface TokenBinding {
  namespace: string;
  serviceAccount: BoundObject;
  pod?: BoundObject;
  node?: BoundObject;
  secret?: BoundObject;
  /** `iat` in ms: orders the token against a same-named object's creation (see {@link RevocationChecker}). */
  issuedAt?: number;
}

/** The binding of a verified identity (a token verified offline carries every field the checker needs). */
export function tokenBinding(identity: ServiceAccountIdentity): TokenBinding {
  const binding: TokenBinding = { namespace: identity.namespace, serviceAccount: identity.serviceAccount };
  if (identity.pod) binding.pod = identity.pod;
  if (identity.node) binding.node = identity.node;
  if (identity.issuedAt) binding.issuedAt = identity.issuedAt.getTime();
  return binding;
}

/** The outcome of a revocation check. */
export type RevocationVerdict =
  | { status: 'valid'; lookups: number }
  | { status: 'revoked'; message: string; lookups: number }
  /**
   * The checker cannot judge: the namespace is not watched, the watch is not synced or stale, a live read failed, or
   * the token has a binding it does not follow. Callers fall back to TokenReview or refuse as unavailable.
   */
  | {
      status: 'unknown';
      why: 'not_watched' | 'not_synced' | 'stale' | 'lookup_failed' | 'unsupported';
      message: string;
      lookups: number;
    };

/**
 * The API server's leeway for bound objects: a token stays valid while its pod (or ServiceAccount) has a
 * `deletionTimestamp` less than 60 s in the past (`invalidIfDeletedBefore := now - jwt.DefaultLeeway` in
 * kubernetes/pkg/serviceaccount/claims.go, `validator.Validate`; go-jose's `DefaultLeeway` is one minute).
 */
export const DELETION_LEEWAY_MS = 60_000;

/**
 * The API server's verdict on one bound object it has found, exactly as `validator.Validate` in
 * kubernetes/pkg/serviceaccount/claims.go (v1.36) judges it: the uid must match the claim, and a
 * `deletionTimestamp` before `now - 60 s` invalidates the token (so does a missing object, judged by the caller).
 * Returns the refusal message, or undefined when the object still vouches for the token.
 */
export function judgeBoundObject(kind: string, claim: BoundObject, found: ObjectMeta, now: number): string | undefined {
  if (found.uid !== claim.uid) return `${kind} uid ${found.uid} does not match the token's (${claim.uid})`;
  if (found.deletionTimestamp !== undefined && found.deletionTimestamp < now - DELETION_LEEWAY_MS) {
    return `${kind} ${claim.name} was deleted at ${new Date(found.deletionTimestamp).toISOString()}`;
  }
  return undefined;
}

/** Options of {@link RevocationChecker}. */
export interface RevocationCheckerOptions {
  watch: BoundObjectWatch;
  /**
   * Read an object the watch has not seen (a new pod the watch lags behind, or one deleted before the watch
   * started) from the API server, as the API server's own getter does. Default true. When false, such tokens are
   * `unknown` and the caller falls back.
   */
  liveLookups?: boolean;
  /** How long a live read that found the object vouches for it (ms, default 5000), until the watch catches up. */
  liveResultTtlMs?: number;
  /** Time-out of a live read in ms (default 5000). */
  timeoutMs?: number;
  clock?: Clock;
}

type Lookup = { kind: 'found'; object: ObjectMeta } | { kind: 'gone' };

// The common answers, shared: no allocation per request on the fast path.
const STEP_VALID = Object.freeze({ kind: 'valid' as const });
const VALID: RevocationVerdict = Object.freeze({ status: 'valid', lookups: 0 });

/**
 * Decides whether a verified token has been revoked by the deletion of the objects it is bound to, from the
 * {@link BoundObjectWatch}'s view of the cluster: zero API calls for objects the watch holds or has seen deleted.
 *
 * The rules are the API server's (`validator.Validate`, kubernetes/pkg/serviceaccount/claims.go): the
 * ServiceAccount must exist with the token's uid and not be deleted more than 60 s ago; a pod-bound token's pod
 * likewise. The node claim of a pod-bound token is not checked by the API server, so not here either. Where the
 * API server's informer misses it reads the object live (kubernetes/pkg/controller/serviceaccount/tokengetter.go);
 * so does this checker, coalesced per object, and a uid once found missing is remembered (uids are never reused).
 *
 * One refinement keeps the watch's lag from refusing a valid token: when the watch holds a same-named object with
 * another uid, the token is refused at once only if that object was created after the token was issued (then the
 * token's object was already gone); otherwise the object is read live.
 */
export class RevocationChecker {
  readonly watch: BoundObjectWatch;
  private readonly liveLookups: boolean;
  private readonly liveResultTtlMs: number;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly inflight = new Map<string, Promise<Lookup>>();
  private readonly confirmed = new Map<string, { object: ObjectMeta; until: number }>();
  private lookupCount = 0;

  constructor(options: RevocationCheckerOptions) {
    this.watch = options.watch;
    this.liveLookups = options.liveLookups ?? true;
    this.liveResultTtlMs = numberOption('liveResultTtlMs', options.liveResultTtlMs, 5000);
    this.timeoutMs = numberOption('timeoutMs', options.timeoutMs, 5000, { min: 1 });
    this.clock = options.clock ?? systemClock;
  }

  /** Live reads sent to the API server so far. */
  get lookups(): number {
    return this.lookupCount;
  }

  /**
   * The verdict when the watch alone can give it, with no promise and no API call; `undefined` when a live read
   * is needed (then call {@link check}).
   */
  checkCached(binding: TokenBinding): RevocationVerdict | undefined {
    const unsupported = this.unsupported(binding);
    if (unsupported) return unsupported;
    const now = this.clock();
    const sa = this.fromWatch(
      'serviceaccounts',
      'ServiceAccount',
      binding.namespace,
      binding.serviceAccount,
      binding.issuedAt,
      now,
    );
    if (sa.kind !== 'valid') return sa.kind === 'need_lookup' ? undefined : sa.verdict;
    if (!binding.pod) return VALID;
    const pod = this.fromWatch('pods', 'pod', binding.namespace, binding.pod, binding.issuedAt, now);
    if (pod.kind !== 'valid') return pod.kind === 'need_lookup' ? undefined : pod.verdict;
    return VALID;
  }

  /** The verdict, reading objects the watch has not seen from the API server (coalesced per object). */
  async check(binding: TokenBinding): Promise<RevocationVerdict> {
    const cached = this.checkCached(binding);
    if (cached) return cached;
    let lookups = 0;
    const refs: [WatchedResource, string, BoundObject][] = [
      ['serviceaccounts', 'ServiceAccount', binding.serviceAccount],
    ];
    if (binding.pod) refs.push(['pods', 'pod', binding.pod]);
    for (const [resource, kind, claim] of refs) {
      const now = this.clock();
      const step = this.fromWatch(resource, kind, binding.namespace, claim, binding.issuedAt, now);
      if (step.kind === 'verdict') return { ...step.verdict, lookups };
      if (step.kind === 'valid') continue;
      if (!this.liveLookups) {
        return {
          status: 'unknown',
          why: 'not_synced',
          message: `the watch has not seen ${kind} ${binding.namespace}/${claim.name}`,
          lookups,
        };
      }
      let found: Lookup;
      try {
        lookups++;
        found = await this.lookup(resource, binding.namespace, claim.name);
      } catch (err) {
        return {
          status: 'unknown',
          why: 'lookup_failed',
          message: `reading ${kind} ${binding.namespace}/${claim.name} failed: ${(err as Error).message}`,
          lookups,
        };
      }
      if (found.kind === 'gone') {
        this.watch.markDeleted(claim.uid);
        return { status: 'revoked', message: `${kind} ${binding.namespace}/${claim.name} does not exist`, lookups };
      }
      const refusal = judgeBoundObject(kind, claim, found.object, this.clock());
      if (refusal) {
        if (found.object.uid !== claim.uid) this.watch.markDeleted(claim.uid);
        return { status: 'revoked', message: refusal, lookups };
      }
    }
    return { status: 'valid', lookups };
  }

  private unsupported(binding: TokenBinding): RevocationVerdict | undefined {
    // Secret-bound tokens and node-only tokens are checked by the API server against Secrets and Nodes, which
    // this watch does not follow: let TokenReview judge them rather than judge them by half.
    if (binding.secret)
      return { status: 'unknown', why: 'unsupported', message: 'the token is bound to a Secret', lookups: 0 };
    if (binding.node && !binding.pod)
      return { status: 'unknown', why: 'unsupported', message: 'the token is bound to a Node', lookups: 0 };
    return undefined;
  }

  private fromWatch(
    resource: WatchedResource,
    kind: string,
    namespace: string,
    claim: BoundObject,
    issuedAt: number | undefined,
    now: number,
  ): { kind: 'valid' } | { kind: 'need_lookup' } | { kind: 'verdict'; verdict: RevocationVerdict } {
    const revoked = (message: string) => ({
      kind: 'verdict' as const,
      verdict: { status: 'revoked' as const, message, lookups: 0 },
    });
    if (this.watch.isDeleted(claim.uid))
      return revoked(`${kind} ${namespace}/${claim.name} (uid ${claim.uid}) was deleted`);
    const seen = this.watch.lookup(resource, namespace, claim.name);
    if (seen.state === 'unknown') {
      const message =
        seen.why === 'not_watched'
          ? `namespace ${namespace} is not watched`
          : seen.why === 'stale'
            ? `the watch of ${resource} in ${namespace} is disconnected beyond its staleness bound`
            : `the watch of ${resource} in ${namespace} has not synced yet`;
      return { kind: 'verdict', verdict: { status: 'unknown', why: seen.why, message, lookups: 0 } };
    }
    if (seen.state === 'present') {
      if (seen.object.uid === claim.uid) {
        const refusal = judgeBoundObject(kind, claim, seen.object, now);
        return refusal ? revoked(refusal) : STEP_VALID;
      }
      // A same-named object created after the token was issued proves the token's object was gone by then.
      // Timestamps have one-second resolution, hence the margin.
      if (issuedAt !== undefined && seen.object.creationTimestamp > issuedAt + 1000) {
        return revoked(
          `${kind} ${namespace}/${claim.name} was recreated (uid ${seen.object.uid}) after the token was issued`,
        );
      }
    }
    const live = this.confirmed.get(claim.uid);
    if (live && live.until > now) {
      const refusal = judgeBoundObject(kind, claim, live.object, now);
      return refusal ? revoked(refusal) : STEP_VALID;
    }
    return { kind: 'need_lookup' };
  }

  private lookup(resource: WatchedResource, namespace: string, name: string): Promise<Lookup> {
    const key = `${resource}/${namespace}/${name}`;
    let pending = this.inflight.get(key);
    if (!pending) {
      this.lookupCount++;
      pending = this.watch
        .getLive(resource, namespace, name, AbortSignal.timeout(this.timeoutMs))
        .then((object): Lookup => {
          if (!object) return { kind: 'gone' };
          this.remember(object);
          return { kind: 'found', object };
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private remember(object: ObjectMeta): void {
    const now = this.clock();
    // Bounded: expired entries go first; the map never holds more than what a few seconds of lookups found.
    if (this.confirmed.size >= 10_000) {
      for (const [uid, entry] of this.confirmed) if (entry.until <= now) this.confirmed.delete(uid);
      if (this.confirmed.size >= 10_000) this.confirmed.clear();
    }
    this.confirmed.set(object.uid, { object, until: now + this.liveResultTtlMs });
  }
}
