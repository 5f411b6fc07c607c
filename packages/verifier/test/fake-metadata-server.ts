/**
 * A fake API server for the revocation watch's unit tests: an in-memory object store with resourceVersions, an
 * event log that watches replay from, compaction (`410 Gone`), outages and dropped streams. The real API server is
 * exercised by e2e/src/integration/revocation.test.ts; this one lets the unit tests reach every state quickly.
 * Imported only by `*.test.ts` files; kept out of the published package by the `files` list.
 */
import { MetadataRequestError } from '../src/errors.js';
import type { MetadataClient, ObjectMeta, WatchEvent } from '../src/kube/metadata-client.js';

interface Watcher {
  path: string;
  onEvent: (event: WatchEvent) => void;
  end: (error?: Error) => void;
}

export class FakeMetadataServer implements MetadataClient {
  private rv = 1;
  private readonly store = new Map<string, Map<string, ObjectMeta>>();
  private readonly log: { path: string; rv: number; event: WatchEvent }[] = [];
  private compactedThrough = 0;
  private readonly watchers = new Set<Watcher>();
  private uidCounter = 0;
  down = false;
  readonly calls = { list: 0, watch: 0, get: 0 };

  /** Creates (or replaces) an object; returns it. `path` is a collection, e.g. `/api/v1/namespaces/api/pods`. */
  create(path: string, name: string, init: Partial<ObjectMeta> = {}): ObjectMeta {
    const object: ObjectMeta = {
      name,
      uid: init.uid ?? `uid-${++this.uidCounter}`,
      creationTimestamp: init.creationTimestamp ?? 0,
    };
    if (init.deletionTimestamp !== undefined) object.deletionTimestamp = init.deletionTimestamp;
    const had = this.collection(path).has(name);
    this.collection(path).set(name, object);
    this.emit(path, had ? 'MODIFIED' : 'ADDED', object);
    return object;
  }

  /** Starts a graceful deletion: sets `deletionTimestamp` (ms). */
  markDeleting(path: string, name: string, at: number): void {
    const object = this.collection(path).get(name);
    if (!object) throw new Error(`no ${path}/${name}`);
    const next = { ...object, deletionTimestamp: at };
    this.collection(path).set(name, next);
    this.emit(path, 'MODIFIED', next);
  }

  remove(path: string, name: string): void {
    const object = this.collection(path).get(name);
    if (!object) return;
    this.collection(path).delete(name);
    this.emit(path, 'DELETED', object);
  }

  /** Forgets the event log up to now: watches from an older resourceVersion get `410 Gone`. */
  compact(): void {
    this.compactedThrough = this.rv;
    this.log.length = 0;
  }

  /** Ends every open watch normally (as the server's timeout does). */
  closeWatches(): void {
    for (const watcher of [...this.watchers]) watcher.end();
  }

  /** Breaks every open watch (as a dying server does). */
  breakWatches(): void {
    for (const watcher of [...this.watchers]) watcher.end(new MetadataRequestError(0, 'socket hang up'));
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  async list(path: string): Promise<{ items: ObjectMeta[]; resourceVersion: string }> {
    this.calls.list++;
    if (this.down) throw new MetadataRequestError(0, 'connect ECONNREFUSED');
    return { items: [...this.collection(path).values()], resourceVersion: String(this.rv) };
  }

  async get(objectPath: string): Promise<ObjectMeta | undefined> {
    this.calls.get++;
    if (this.down) throw new MetadataRequestError(0, 'connect ECONNREFUSED');
    const slash = objectPath.lastIndexOf('/');
    return this.collection(objectPath.slice(0, slash)).get(objectPath.slice(slash + 1));
  }

  watch(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    options: { signal: AbortSignal; timeoutSeconds: number; onOpen?: () => void },
  ): Promise<void> {
    this.calls.watch++;
    if (this.down) return Promise.reject(new MetadataRequestError(0, 'connect ECONNREFUSED'));
    const from = Number(resourceVersion);
    if (from < this.compactedThrough) {
      options.onOpen?.();
      onEvent({ type: 'ERROR', code: 410, message: `too old resource version: ${from}` });
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const watcher: Watcher = {
        path,
        onEvent,
        end: (error) => {
          this.watchers.delete(watcher);
          if (error) reject(error);
          else resolve();
        },
      };
      options.signal.addEventListener('abort', () => watcher.end(new MetadataRequestError(0, 'aborted')), {
        once: true,
      });
      options.onOpen?.();
      for (const entry of this.log) if (entry.path === path && entry.rv > from) onEvent(entry.event);
      this.watchers.add(watcher);
    });
  }

  private collection(path: string): Map<string, ObjectMeta> {
    let objects = this.store.get(path);
    if (!objects) {
      objects = new Map();
      this.store.set(path, objects);
    }
    return objects;
  }

  private emit(path: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: ObjectMeta): void {
    const rv = ++this.rv;
    const event: WatchEvent = { type, object: { ...object }, resourceVersion: String(rv) };
    this.log.push({ path, rv, event });
    for (const watcher of this.watchers) if (watcher.path === path) watcher.onEvent(event);
  }
}
