import type { KubeConfig, V1SubjectAccessReview } from '@kubernetes/client-node';
import { apiExceptionStatus, isKubeConfig } from '../kube/client-node.js';
import { subjectAccessReviewClient, type SubjectAccessReviewClient } from '../kube/review-clients.js';
import { numberOption } from '../options.js';
import { systemClock, type Clock } from '../clock.js';
import { KubeAuthError } from '../errors.js';
import { identityToUserInfo, type ServiceAccountIdentity } from '../identity/identity.js';
import { ResultCache } from '../lib/result-cache.js';

/**
 * What a route protects, stated once when the route is declared: a resource (as in `kubectl auth can-i get
 * widgets.example.com -n shop`) or a non-resource path and verb. Never derived from the request.
 */
export type AccessAttributes =
  | {
      resource: string;
      verb: string;
      /** API group; default `""` (core). */
      group?: string;
      namespace?: string;
      subresource?: string;
      name?: string;
      version?: string;
    }
  | { path: string; verb: string };

/** Options of {@link SubjectAccessReviewer}. */
export interface SubjectAccessReviewerOptions {
  client: SubjectAccessReviewClient | KubeConfig;
  /** How long an "allowed" answer is reused, in seconds (default 10; the API server's webhook authorizer default). */
  allowTtlSeconds?: number;
  /** How long a "denied" answer is reused, in seconds (default 10). */
  denyTtlSeconds?: number;
  /** Bound of the decision cache (default 10,000). */
  cacheMaxEntries?: number;
  /** Time-out of one review, in ms (default 5000). */
  timeoutMs?: number;
  clock?: Clock;
}

const VERB = /^(\*|[a-z][a-zA-Z]*)$/;

/** Checks attributes once, at construction or route declaration time; throws `TypeError` on a bad one. */
export function validateAccessAttributes(attributes: AccessAttributes): AccessAttributes {
  if (!attributes || typeof attributes.verb !== 'string' || !VERB.test(attributes.verb)) {
    throw new TypeError(
      `access attributes need a verb (get, list, create, … or *), got ${JSON.stringify(attributes?.verb)}`,
    );
  }
  if ('path' in attributes) {
    if (typeof attributes.path !== 'string' || !attributes.path.startsWith('/')) {
      throw new TypeError(`a non-resource path must start with "/", got ${JSON.stringify(attributes.path)}`);
    }
    if ('resource' in attributes) throw new TypeError('give either a resource or a non-resource path, not both');
    return attributes;
  }
  if (typeof attributes.resource !== 'string' || !attributes.resource) {
    throw new TypeError('resource attributes need a resource (e.g. "pods" or "widgets")');
  }
  return attributes;
}

type Decision = { allowed: true } | { allowed: false; reason: string };

/**
 * Authorization by the cluster's RBAC, as kube-rbac-proxy does it: for an authenticated caller and the static
 * attributes of a route, asks the API server (`authorization.k8s.io/v1` SubjectAccessReview) whether the caller may.
 * Answers are cached per (caller, attributes) for a few seconds and concurrent questions share one request. "RBAC
 * says no" is `subjectaccessreview_denied` (403); a question that cannot be asked (API server unreachable, this
 * service not bound to `system:auth-delegator`) is `subjectaccessreview_unavailable` (503) — never an allow.
 */
export class SubjectAccessReviewer {
  private readonly client: SubjectAccessReviewClient;
  private readonly cache: ResultCache<Decision>;
  private readonly inflight = new Map<string, Promise<Decision>>();
  private readonly allowTtlMs: number;
  private readonly denyTtlMs: number;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private reviewCount = 0;

  constructor(options: SubjectAccessReviewerOptions) {
    this.client = isKubeConfig(options.client) ? subjectAccessReviewClient(options.client) : options.client;
    this.clock = options.clock ?? systemClock;
    this.allowTtlMs = numberOption('allowTtlSeconds', options.allowTtlSeconds, 10) * 1000;
    this.denyTtlMs = numberOption('denyTtlSeconds', options.denyTtlSeconds, 10) * 1000;
    this.timeoutMs = numberOption('timeoutMs', options.timeoutMs, 5000, { min: 1 });
    const maxEntries = numberOption('cacheMaxEntries', options.cacheMaxEntries, 10_000, { min: 1, integer: true });
    this.cache = new ResultCache({ maxEntries, clock: this.clock });
  }

  /** SubjectAccessReviews sent so far. */
  get reviews(): number {
    return this.reviewCount;
  }

  /** Resolves when RBAC allows `identity` the `attributes`; throws a {@link KubeAuthError} otherwise. */
  async authorize(identity: ServiceAccountIdentity, attributes: AccessAttributes): Promise<void> {
    await this.check(identity, attributes);
  }

  /**
   * As {@link authorize}, but answers a cached decision synchronously: returns nothing when allowed, throws when
   * denied, and returns a promise only when the API server must be asked.
   */
  check(identity: ServiceAccountIdentity, attributes: AccessAttributes): void | Promise<void> {
    const spec = this.spec(identity, attributes);
    const key = JSON.stringify(spec);
    const cached = this.cache.get(key);
    if (cached) return this.enforce(cached, identity, attributes);
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.review(spec, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending.then((decision) => this.enforce(decision, identity, attributes));
  }

  private enforce(decision: Decision, identity: ServiceAccountIdentity, attributes: AccessAttributes): void {
    if (!decision.allowed) {
      throw new KubeAuthError(
        'subjectaccessreview_denied',
        `RBAC does not allow ${identity.username} to ${describe(attributes)}${decision.reason ? `: ${decision.reason}` : ''}`,
      );
    }
  }

  private spec(
    identity: ServiceAccountIdentity,
    attributes: AccessAttributes,
  ): NonNullable<V1SubjectAccessReview['spec']> {
    // The caller as the API server knows it (the identity model's mapping, shared with TokenReview).
    const user = identityToUserInfo(identity);
    const base = { user: user.username, uid: user.uid, groups: user.groups.sort(), extra: user.extra };
    if ('path' in attributes)
      return { ...base, nonResourceAttributes: { path: attributes.path, verb: attributes.verb } };
    return {
      ...base,
      resourceAttributes: {
        group: attributes.group ?? '',
        resource: attributes.resource,
        verb: attributes.verb,
        namespace: attributes.namespace,
        subresource: attributes.subresource,
        name: attributes.name,
        version: attributes.version,
      },
    };
  }

  private async review(spec: NonNullable<V1SubjectAccessReview['spec']>, key: string): Promise<Decision> {
    this.reviewCount++;
    let status: V1SubjectAccessReview['status'];
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      });
      const result = await Promise.race([
        this.client.createSubjectAccessReview({
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec,
        }),
        timeout,
      ]);
      status = result.status;
    } catch (cause) {
      // Not cached: the next request asks again.
      const status = apiExceptionStatus(cause);
      const detail =
        status !== undefined
          ? status === 403
            ? 'this service may not create SubjectAccessReviews (bind it to system:auth-delegator)'
            : `HTTP ${status}`
          : cause instanceof Error
            ? cause.message
            : String(cause);
      throw new KubeAuthError('subjectaccessreview_unavailable', `SubjectAccessReview failed: ${detail}`, { cause });
    } finally {
      clearTimeout(timer);
    }
    // The API server's authorizers answer allow, deny or no opinion; with no one allowing, the answer is no.
    const decision: Decision =
      status?.allowed === true ? { allowed: true } : { allowed: false, reason: status?.reason ?? '' };
    this.cache.set(
      key,
      decision,
      this.clock() + (decision.allowed ? this.allowTtlMs : this.denyTtlMs),
      !decision.allowed,
    );
    return decision;
  }
}

function describe(attributes: AccessAttributes): string {
  if ('path' in attributes) return `${attributes.verb} ${attributes.path}`;
  const group = attributes.group ? `.${attributes.group}` : '';
  const sub = attributes.subresource ? `/${attributes.subresource}` : '';
  const name = attributes.name ? ` ${attributes.name}` : '';
  const ns = attributes.namespace ? ` in ${attributes.namespace}` : '';
  return `${attributes.verb} ${attributes.resource}${group}${sub}${name}${ns}`;
}
