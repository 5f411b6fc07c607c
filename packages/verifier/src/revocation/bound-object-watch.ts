import type { KubeConfig } from '@kubernetes/client-node';
import { isKubeConfig } from '../kube/client-node.js';
import { systemClock, type Clock } from '../clock.js';
import { MetadataRequestError } from '../errors.js';
import { numberOption } from '../options.js';
import { kubeMetadataClient, type MetadataClient, type ObjectMeta, type WatchEvent } from '../kube/metadata-client.js';

/** The objects a ServiceAccount token can be bound to that the watch follows. */
export type WatchedResource = 'pods' | 'serviceaccounts';

/** What the watch knows about one object name: see {@link BoundObjectWatch.lookup}. */
export type ObjectLookup =
  | { state: 'present'; object: ObjectMeta }
  | { state: 'absent' }
  | { state: 'unknown'; why: 'not_watched' | 'not_synced' | 'stale' };

/** Status changes of the watch, for logs and metrics. Never carries a token. */
export type WatchStatusEvent =
  | { type: 'watch_synced'; resource: WatchedResource; namespace: string; objects: number; durationMs: number }
  | { type: 'watch_disconnected'; resource: WatchedResource; namespace: string; error: string }
  | { type: 'watch_relist'; resource: WatchedResource; namespace: string; reason: 'expired' | 'start' | 'error' };

/** Options of {@link BoundObjectWatch}. */
export interface BoundObjectWatchOptions {
  /** The cluster: a `KubeConfig` (in-cluster or a file) or an injected {@link MetadataClient}. */
  client: KubeConfig | MetadataClient;
  /** Namespaces to watch: those the policy can admit. Tokens from elsewhere are `not_watched`. */
  namespaces: string[];
  /** Default both `pods` and `serviceaccounts`. */
  resources?: WatchedResource[];
  /**
   * How long a broken watch may go on answering from its last state, in seconds (default 10): deletions that
   * happen during an outage are seen late by at most this much. Beyond it, lookups say `stale`.
   */
  maxStalenessSeconds?: number;
  /** Server-side timeout of each watch request, in seconds (default 300, jittered by up to 20 %). */
  watchTimeoutSeconds?: number;
  /** How many uids of deleted objects are remembered (default 100,000). Older ones cost a live read again. */
  maxTombstones?: number;
  /** Time-out of each list or get, in ms (default 5000). */
  timeoutMs?: number;
  clock?: Clock;
  onEvent?: (event: WatchStatusEvent) => void;
}

/**
 * A list + watch of the pods and ServiceAccounts (metadata only) of a few namespaces: the informer the API server
 * itself uses to check bound tokens, kept by the service so that a token whose pod was deleted is refused without
 * an API call. Each (resource, namespace) pair is one reflector: list, then watch from the list's resourceVersion;
 * on a closed stream watch again from the last resourceVersion seen (bookmarks keep it recent); on `410 Gone`
 * list again, and treat every object missing from the new list as deleted. Memory is one small record per object
 * in the watched namespaces, plus a bounded set of the uids seen deleted.
 */
export class BoundObjectWatch {
  readonly namespaces: readonly string[];
  readonly resources: readonly WatchedResource[];
  readonly maxStalenessMs: number;
  private readonly client: MetadataClient;
  private readonly clock: Clock;
  private readonly reflectors = new Map<string, Reflector>();
  private readonly tombstones = new Map<string, true>();
  private readonly maxTombstones: number;
  private started = false;

  constructor(options: BoundObjectWatchOptions) {
    this.namespaces = [...new Set(options.namespaces)];
    if (this.namespaces.length === 0) throw new TypeError('BoundObjectWatch needs at least one namespace');
    this.resources = options.resources ?? ['pods', 'serviceaccounts'];
    this.maxStalenessMs = numberOption('maxStalenessSeconds', options.maxStalenessSeconds, 10) * 1000;
    this.maxTombstones = numberOption('maxTombstones', options.maxTombstones, 100_000, { integer: true });
    this.clock = options.clock ?? systemClock;
    this.client = isKubeConfig(options.client)
      ? kubeMetadataClient(options.client, { timeoutMs: options.timeoutMs })
      : options.client;
    const context: ReflectorContext = {
      client: this.client,
      clock: this.clock,
      maxStalenessMs: this.maxStalenessMs,
      watchTimeoutSeconds: numberOption('watchTimeoutSeconds', options.watchTimeoutSeconds, 300, { min: 1 }),
      onEvent: options.onEvent,
      markDeleted: (uid) => this.markDeleted(uid),
    };
    for (const namespace of this.namespaces) {
      for (const resource of this.resources) {
        this.reflectors.set(key(resource, namespace), new Reflector(resource, namespace, context));
      }
    }
  }

  /** Starts every reflector (idempotent). Lookups say `not_synced` until a reflector's first list has completed. */
  start(): this {
    if (this.started) return this;
    this.started = true;
    for (const reflector of this.reflectors.values()) reflector.run();
    return this;
  }

  /** Stops every watch. */
  stop(): void {
    for (const reflector of this.reflectors.values()) reflector.stop();
  }

  /** Resolves once every reflector has listed once, or rejects after `timeoutMs`. */
  async waitForSync(timeoutMs = 30_000): Promise<void> {
    // Real time, not the injected clock: a frozen test clock must not make this wait forever.
    const deadline = performance.now() + timeoutMs;
    while (!this.synced) {
      if (performance.now() > deadline)
        throw new Error(`the watch of ${this.namespaces.join(', ')} did not sync within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Every reflector has listed at least once. */
  get synced(): boolean {
    return [...this.reflectors.values()].every((r) => r.synced);
  }

  /**
   * Healthy enough to judge revocation: synced, and no reflector disconnected for longer than the staleness bound.
   * This is what a readiness probe should report for routes that rely on the watch.
   */
  get ready(): boolean {
    return [...this.reflectors.values()].every((r) => r.fresh);
  }

  /** Per-reflector status, for readiness endpoints and diagnostics. */
  status(): {
    resource: WatchedResource;
    namespace: string;
    synced: boolean;
    fresh: boolean;
    objects: number;
    resourceVersion: string;
  }[] {
    return [...this.reflectors.values()].map((r) => ({
      resource: r.resource,
      namespace: r.namespace,
      synced: r.synced,
      fresh: r.fresh,
      objects: r.size,
      resourceVersion: r.resourceVersion,
    }));
  }

  /** Objects held across all reflectors. */
  get objectCount(): number {
    let total = 0;
    for (const reflector of this.reflectors.values()) total += reflector.size;
    return total;
  }

  /** What the watch currently knows about `namespace/name`. */
  lookup(resource: WatchedResource, namespace: string, name: string): ObjectLookup {
    const reflector = this.reflectors.get(key(resource, namespace));
    if (!reflector) return { state: 'unknown', why: 'not_watched' };
    if (!reflector.synced) return { state: 'unknown', why: 'not_synced' };
    if (!reflector.fresh) return { state: 'unknown', why: 'stale' };
    const object = reflector.get(name);
    return object ? { state: 'present', object } : ABSENT;
  }

  /** Whether the watch covers this namespace for this resource. */
  watches(resource: WatchedResource, namespace: string): boolean {
    return this.reflectors.has(key(resource, namespace));
  }

  /** True once the object with this uid is known to be gone (uids are never reused). */
  isDeleted(uid: string): boolean {
    return this.tombstones.has(uid);
  }

  /** Records that the object with this uid is gone (seen deleted, or confirmed by a live read). */
  markDeleted(uid: string): void {
    if (this.tombstones.has(uid)) return;
    this.tombstones.set(uid, true);
    if (this.tombstones.size > this.maxTombstones) {
      // Oldest first: forgetting one only costs a live read if its token comes back.
      const oldest = this.tombstones.keys().next().value;
      if (oldest !== undefined) this.tombstones.delete(oldest);
    }
  }

  /** A live metadata read of one object, for names the watch has not seen. `undefined` when it does not exist. */
  async getLive(
    resource: WatchedResource,
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<ObjectMeta | undefined> {
    return this.client.get(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}/${encodeURIComponent(name)}`,
      signal,
    );
  }
}

/** What a reflector needs from its watch, built once. */
interface ReflectorContext {
  client: MetadataClient;
  clock: Clock;
  maxStalenessMs: number;
  watchTimeoutSeconds: number;
  onEvent: ((event: WatchStatusEvent) => void) | undefined;
  markDeleted: (uid: string) => void;
}

const key = (resource: WatchedResource, namespace: string): string => `${resource}/${namespace}`;
const ABSENT: ObjectLookup = Object.freeze({ state: 'absent' });

/** One list + watch loop for a (resource, namespace) pair. */
class Reflector {
  private readonly objects = new Map<string, ObjectMeta>();
  private readonly controller = new AbortController();
  private readonly path: string;
  resourceVersion = '';
  synced = false;
  private connected = false;
  /** When the reflector was last known to be in step with the API server (ms). */
  private healthyAt = 0;
  private stopped = false;

  constructor(
    readonly resource: WatchedResource,
    readonly namespace: string,
    private readonly context: ReflectorContext,
  ) {
    this.path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`;
  }

  get size(): number {
    return this.objects.size;
  }

  get fresh(): boolean {
    if (!this.synced) return false;
    if (this.connected) return true;
    const { clock, maxStalenessMs } = this.context;
    return clock() - this.healthyAt <= maxStalenessMs;
  }

  get(name: string): ObjectMeta | undefined {
    return this.objects.get(name);
  }

  stop(): void {
    this.stopped = true;
    this.controller.abort();
  }

  run(): void {
    void this.loop();
  }

  private async loop(): Promise<void> {
    const { client, clock, onEvent, watchTimeoutSeconds } = this.context;
    let needList = true;
    let failures = 0;
    let relistReason: 'start' | 'expired' | 'error' = 'start';
    while (!this.stopped) {
      try {
        if (needList) {
          onEvent?.({ type: 'watch_relist', resource: this.resource, namespace: this.namespace, reason: relistReason });
          const started = clock();
          const list = await client.list(this.path, this.controller.signal);
          this.replace(list.items);
          this.resourceVersion = list.resourceVersion;
          this.synced = true;
          this.healthyAt = clock();
          needList = false;
          onEvent?.({
            type: 'watch_synced',
            resource: this.resource,
            namespace: this.namespace,
            objects: this.objects.size,
            durationMs: clock() - started,
          });
        }
        let expired = false;
        const timeoutSeconds = Math.round(watchTimeoutSeconds * (0.8 + Math.random() * 0.2));
        await client.watch(
          this.path,
          this.resourceVersion,
          (event) => {
            if (this.stopped) return;
            if (event.type === 'ERROR') {
              if (event.code === 410) expired = true;
              return;
            }
            this.apply(event);
          },
          {
            signal: this.controller.signal,
            timeoutSeconds,
            onOpen: () => {
              this.connected = true;
              failures = 0;
            },
          },
        );
        this.disconnect();
        if (expired) {
          needList = true;
          relistReason = 'expired';
        }
      } catch (err) {
        this.disconnect();
        if (this.stopped) return;
        if (err instanceof MetadataRequestError && err.status === 410) {
          needList = true;
          relistReason = 'expired';
          continue;
        }
        onEvent?.({
          type: 'watch_disconnected',
          resource: this.resource,
          namespace: this.namespace,
          error: (err as Error).message,
        });
        failures++;
        // Capped exponential back-off with jitter: an API-server outage must not become a reconnection storm.
        const delay = Math.min(10_000, 200 * 2 ** Math.min(failures, 6)) * (0.5 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
        // After a failed list (or many failed watches) list again rather than trust an old resourceVersion.
        if (!this.synced) relistReason = 'error';
      }
    }
  }

  private disconnect(): void {
    if (this.connected) this.healthyAt = this.context.clock();
    this.connected = false;
  }

  private apply(event: Exclude<WatchEvent, { type: 'ERROR' }>): void {
    if (event.resourceVersion) this.resourceVersion = event.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    const { object } = event;
    const previous = this.objects.get(object.name);
    if (previous && previous.uid !== object.uid) this.context.markDeleted(previous.uid);
    if (event.type === 'DELETED') {
      this.context.markDeleted(object.uid);
      if (!previous || previous.uid === object.uid) this.objects.delete(object.name);
      return;
    }
    this.objects.set(object.name, object);
  }

  /** Replaces the store with a fresh list; whatever disappeared in between was deleted. */
  private replace(items: ObjectMeta[]): void {
    const next = new Map(items.map((item) => [item.name, item]));
    for (const [name, old] of this.objects) {
      if (next.get(name)?.uid !== old.uid) this.context.markDeleted(old.uid);
    }
    this.objects.clear();
    for (const [name, item] of next) this.objects.set(name, item);
  }
}
