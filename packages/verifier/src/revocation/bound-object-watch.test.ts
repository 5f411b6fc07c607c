import { afterEach, describe, expect, it, vi } from 'vitest';
import { BoundObjectWatch, type WatchStatusEvent } from './bound-object-watch.js';
import { FakeMetadataServer } from '../../test/fake-metadata-server.js';

const PODS = '/api/v1/namespaces/api/pods';
const SAS = '/api/v1/namespaces/api/serviceaccounts';

let watches: BoundObjectWatch[] = [];
afterEach(() => {
  for (const w of watches) w.stop();
  watches = [];
});

function setup(options: { maxStalenessSeconds?: number; maxTombstones?: number } = {}) {
  const server = new FakeMetadataServer();
  let now = 1_000_000;
  const events: WatchStatusEvent[] = [];
  const watch = new BoundObjectWatch({
    client: server,
    namespaces: ['api'],
    clock: () => now,
    onEvent: (e) => events.push(e),
    ...options,
  });
  watches.push(watch);
  return { server, watch, events, advance: (ms: number) => (now += ms) };
}

describe('BoundObjectWatch', () => {
  it('answers not_synced before its first list, then what the list held; other namespaces are not watched', async () => {
    const { server, watch } = setup();
    const pod = server.create(PODS, 'api-1');
    expect(watch.lookup('pods', 'api', 'api-1')).toEqual({ state: 'unknown', why: 'not_synced' });
    expect(watch.ready).toBe(false);
    await watch.start().waitForSync();
    expect(watch.lookup('pods', 'api', 'api-1')).toEqual({ state: 'present', object: pod });
    expect(watch.lookup('pods', 'api', 'nope')).toEqual({ state: 'absent' });
    expect(watch.lookup('pods', 'other', 'api-1')).toEqual({ state: 'unknown', why: 'not_watched' });
    expect(watch.ready).toBe(true);
    expect(server.calls.list).toBe(2); // pods and serviceaccounts
  });

  it('follows additions, graceful deletions and deletions, remembering deleted uids', async () => {
    const { server, watch } = setup();
    await watch.start().waitForSync();
    const pod = server.create(PODS, 'api-1');
    expect(watch.lookup('pods', 'api', 'api-1')).toMatchObject({ state: 'present', object: { uid: pod.uid } });
    server.markDeleting(PODS, 'api-1', 5000);
    expect(watch.lookup('pods', 'api', 'api-1')).toMatchObject({
      state: 'present',
      object: { deletionTimestamp: 5000 },
    });
    expect(watch.isDeleted(pod.uid)).toBe(false);
    server.remove(PODS, 'api-1');
    expect(watch.lookup('pods', 'api', 'api-1')).toEqual({ state: 'absent' });
    expect(watch.isDeleted(pod.uid)).toBe(true);
  });

  it('treats an object recreated under the same name as a deletion of the old uid', async () => {
    const { server, watch } = setup();
    const old = server.create(SAS, 'api');
    await watch.start().waitForSync();
    server.remove(SAS, 'api');
    const recreated = server.create(SAS, 'api');
    expect(watch.isDeleted(old.uid)).toBe(true);
    expect(watch.lookup('serviceaccounts', 'api', 'api')).toMatchObject({
      state: 'present',
      object: { uid: recreated.uid },
    });
  });

  it('watches again from the last resourceVersion when the server ends a watch, without listing again', async () => {
    const { server, watch } = setup();
    await watch.start().waitForSync();
    const lists = server.calls.list;
    server.closeWatches();
    await vi.waitFor(() => expect(server.openWatches).toBe(2));
    server.create(PODS, 'later');
    expect(watch.lookup('pods', 'api', 'later').state).toBe('present');
    expect(server.calls.list).toBe(lists);
  });

  it('lists again on 410 Gone, and counts objects missing from the new list as deleted', async () => {
    const { server, watch, events } = setup();
    const gone = server.create(PODS, 'gone');
    await watch.start().waitForSync();
    // The watch breaks, the object is deleted and the history compacted while we are away.
    server.down = true;
    server.breakWatches();
    server.remove(PODS, 'gone');
    const kept = server.create(PODS, 'kept');
    server.compact();
    server.down = false;
    await vi.waitFor(() => expect(watch.lookup('pods', 'api', 'kept').state).toBe('present'), { timeout: 5000 });
    expect(watch.lookup('pods', 'api', 'gone')).toEqual({ state: 'absent' });
    expect(watch.isDeleted(gone.uid)).toBe(true);
    expect(watch.isDeleted(kept.uid)).toBe(false);
    expect(events.some((e) => e.type === 'watch_relist' && e.reason === 'expired')).toBe(true);
  });

  it('keeps answering within the staleness bound while disconnected, then says stale, and recovers with the missed events', async () => {
    const { server, watch, advance, events } = setup({ maxStalenessSeconds: 10 });
    await watch.start().waitForSync();
    server.create(PODS, 'api-1');
    server.down = true;
    server.breakWatches();
    await vi.waitFor(() => expect(events.some((e) => e.type === 'watch_disconnected')).toBe(true));
    advance(10_000);
    expect(watch.lookup('pods', 'api', 'api-1').state).toBe('present');
    expect(watch.ready).toBe(true);
    advance(1);
    expect(watch.lookup('pods', 'api', 'api-1')).toEqual({ state: 'unknown', why: 'stale' });
    expect(watch.ready).toBe(false);
    // Deleted during the outage; the history is kept, so the re-watch replays it.
    server.down = false;
    server.remove(PODS, 'api-1');
    await vi.waitFor(() => expect(watch.ready).toBe(true), { timeout: 15_000 });
    expect(watch.lookup('pods', 'api', 'api-1')).toEqual({ state: 'absent' });
  });

  it('bounds the set of deleted uids, forgetting the oldest', async () => {
    const { server, watch } = setup({ maxTombstones: 2 });
    await watch.start().waitForSync();
    const uids = ['a', 'b', 'c'].map((name) => server.create(PODS, name).uid);
    for (const name of ['a', 'b', 'c']) server.remove(PODS, name);
    expect(uids.map((uid) => watch.isDeleted(uid))).toEqual([false, true, true]);
  });

  it('refuses bad options at construction', () => {
    const server = new FakeMetadataServer();
    expect(() => new BoundObjectWatch({ client: server, namespaces: [] })).toThrow(TypeError);
    expect(() => new BoundObjectWatch({ client: server, namespaces: ['api'], maxStalenessSeconds: -1 })).toThrow(
      TypeError,
    );
  });
});
