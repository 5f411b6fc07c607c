import { afterEach, describe, expect, it } from 'vitest';
import { BoundObjectWatch } from './bound-object-watch.js';
import { DELETION_LEEWAY_MS, judgeBoundObject, RevocationChecker, type TokenBinding } from './revocation-checker.js';
import { FakeMetadataServer } from '../../test/fake-metadata-server.js';

const PODS = '/api/v1/namespaces/api/pods';
const SAS = '/api/v1/namespaces/api/serviceaccounts';
const NOW = 1_800_000_000_000;

let watches: BoundObjectWatch[] = [];
afterEach(() => {
  for (const w of watches) w.stop();
  watches = [];
});

async function setup(options: { liveLookups?: boolean; maxTombstones?: number } = {}) {
  const server = new FakeMetadataServer();
  let now = NOW;
  const clock = () => now;
  const sa = server.create(SAS, 'api', { creationTimestamp: NOW - 3_600_000 });
  const pod = server.create(PODS, 'api-1', { creationTimestamp: NOW - 60_000 });
  const watch = new BoundObjectWatch({
    client: server,
    namespaces: ['api'],
    clock,
    maxTombstones: options.maxTombstones,
  });
  watches.push(watch);
  await watch.start().waitForSync();
  const checker = new RevocationChecker({ watch, clock, liveLookups: options.liveLookups });
  const binding = (overrides: Partial<TokenBinding> = {}): TokenBinding => ({
    namespace: 'api',
    serviceAccount: { name: 'api', uid: sa.uid },
    pod: { name: 'api-1', uid: pod.uid },
    issuedAt: NOW - 30_000,
    ...overrides,
  });
  return { server, watch, checker, sa, pod, binding, advance: (ms: number) => (now += ms) };
}

describe('judgeBoundObject (the API server rules)', () => {
  const claim = { name: 'api-1', uid: 'u1' };
  it('refuses another uid', () => {
    expect(judgeBoundObject('pod', claim, { name: 'api-1', uid: 'u2', creationTimestamp: 0 }, NOW)).toMatch(/uid/);
  });
  it('accepts a deletion up to 60 s old and refuses one strictly older, as deletionTimestamp.Before(now - leeway)', () => {
    const at = (deletionTimestamp: number) =>
      judgeBoundObject('pod', claim, { name: 'api-1', uid: 'u1', creationTimestamp: 0, deletionTimestamp }, NOW);
    expect(at(NOW + 30_000)).toBeUndefined(); // graceful deletion: the timestamp is in the future
    expect(at(NOW - DELETION_LEEWAY_MS)).toBeUndefined();
    expect(at(NOW - DELETION_LEEWAY_MS - 1)).toMatch(/deleted/);
  });
});

describe('RevocationChecker', () => {
  it('accepts a token whose pod and ServiceAccount are watched and current, synchronously and with no API call', async () => {
    const { checker, binding, server } = await setup();
    expect(checker.checkCached(binding())).toEqual({ status: 'valid', lookups: 0 });
    expect(checker.checkCached(binding({ pod: undefined }))).toEqual({ status: 'valid', lookups: 0 });
    expect(server.calls.get).toBe(0);
  });

  it('refuses at once once the pod is deleted (forced), with no API call', async () => {
    const { checker, binding, server } = await setup();
    server.remove(PODS, 'api-1');
    expect(checker.checkCached(binding())).toMatchObject({ status: 'revoked', lookups: 0 });
    expect(server.calls.get).toBe(0);
  });

  it('follows a graceful deletion as the API server does: valid until 60 s past the deletionTimestamp', async () => {
    const { checker, binding, server, advance } = await setup();
    server.markDeleting(PODS, 'api-1', NOW + 30_000);
    expect(checker.checkCached(binding())?.status).toBe('valid');
    advance(30_000 + DELETION_LEEWAY_MS);
    expect(checker.checkCached(binding())?.status).toBe('valid');
    advance(1);
    expect(checker.checkCached(binding())).toMatchObject({
      status: 'revoked',
      message: expect.stringMatching(/deleted at/),
    });
  });

  it('refuses a token whose ServiceAccount was recreated with another uid', async () => {
    const { checker, binding, server, advance } = await setup();
    advance(5000);
    server.remove(SAS, 'api');
    server.create(SAS, 'api', { creationTimestamp: NOW + 5000 });
    expect(checker.checkCached(binding())).toMatchObject({ status: 'revoked' });
  });

  it('refuses a token for a pod recreated under the same name after the token was issued, with no API call', async () => {
    // No memory of deleted uids: the token is judged only by the pod the watch holds now.
    const { checker, binding, server } = await setup({ maxTombstones: 0 });
    server.remove(PODS, 'api-1');
    server.create(PODS, 'api-1', { creationTimestamp: NOW });
    expect(checker.checkCached(binding())).toMatchObject({ status: 'revoked' });
    expect(server.calls.get).toBe(0);
  });

  it('reads a pod the watch has not seen yet (cache lag) instead of refusing it, coalescing concurrent reads', async () => {
    const { checker, binding, server, watch } = await setup();
    // The watch lags: the pod exists on the server, the watch has not been told.
    watch.stop();
    const fresh = server.create(PODS, 'api-2', { creationTimestamp: NOW });
    const token = binding({ pod: { name: 'api-2', uid: fresh.uid } });
    expect(checker.checkCached(token)).toBeUndefined();
    const verdicts = await Promise.all([checker.check(token), checker.check(token), checker.check(token)]);
    expect(verdicts.map((v) => v.status)).toEqual(['valid', 'valid', 'valid']);
    expect(server.calls.get).toBe(1);
    // The live answer vouches for the pod for a few seconds, until the watch catches up.
    expect(checker.checkCached(token)).toEqual({ status: 'valid', lookups: 0 });
  });

  it('reads a same-named pod of unknown age live, and remembers a uid found gone', async () => {
    const { checker, binding, server } = await setup();
    // A token for a pod newer than the one the watch holds (iat after the held pod's creation): could be lag.
    const token = binding({ pod: { name: 'api-1', uid: 'newer-uid' } });
    expect(checker.checkCached(token)).toBeUndefined();
    expect(await checker.check(token)).toMatchObject({ status: 'revoked', lookups: 1 });
    expect(checker.checkCached(token)).toMatchObject({ status: 'revoked', lookups: 0 });
    expect(server.calls.get).toBe(1);
  });

  it('refuses a pod deleted before the watch started, after one live read', async () => {
    const { checker, binding, server } = await setup();
    const token = binding({ pod: { name: 'never-seen', uid: 'x' } });
    expect(await checker.check(token)).toMatchObject({ status: 'revoked', lookups: 1 });
    expect(await checker.check(token)).toMatchObject({ status: 'revoked', lookups: 0 });
    expect(server.calls.get).toBe(1);
  });

  it('cannot judge namespaces it does not watch, a stale watch, a failed read, or Secret- and Node-bound tokens', async () => {
    const { checker, binding, server, watch, advance } = await setup();
    expect(checker.checkCached(binding({ namespace: 'other' }))).toMatchObject({
      status: 'unknown',
      why: 'not_watched',
    });
    expect(checker.checkCached(binding({ secret: { name: 's', uid: 'u' } }))).toMatchObject({
      status: 'unknown',
      why: 'unsupported',
    });
    expect(checker.checkCached(binding({ pod: undefined, node: { name: 'n', uid: 'u' } }))).toMatchObject({
      status: 'unknown',
      why: 'unsupported',
    });
    server.down = true;
    expect(await checker.check(binding({ pod: { name: 'unseen', uid: 'u' } }))).toMatchObject({
      status: 'unknown',
      why: 'lookup_failed',
    });
    server.breakWatches();
    await new Promise((r) => setTimeout(r, 20));
    advance(watch.maxStalenessMs + 1);
    expect(checker.checkCached(binding())).toMatchObject({ status: 'unknown', why: 'stale' });
  });

  it('does not read live when live lookups are off', async () => {
    const { checker, binding, server } = await setup({ liveLookups: false });
    expect(await checker.check(binding({ pod: { name: 'unseen', uid: 'u' } }))).toMatchObject({ status: 'unknown' });
    expect(server.calls.get).toBe(0);
  });
});
