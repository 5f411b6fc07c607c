import {
  BoundObjectWatch,
  createKubeFetch,
  KubeAuthError,
  LocalVerifier,
  RevocationChecker,
  ServiceAccountVerifier,
  StaticTokenSource,
  SubjectAccessReviewer,
  tokenBinding,
  TokenReviewVerifier,
  WatchRevocationVerifier,
  type RevocationVerdict,
} from '@kube-service-auth/verifier';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClient, ControlPlane } from '@kube-service-auth/testing';

// Revocation at local speed, proven on a real kube-apiserver 1.36 + etcd: the data store watches the pods and
// ServiceAccounts of namespace `api` with its own token (a Role grants get/list/watch there), and every verdict of
// the watch is compared with what TokenReview says about the same token and the same objects.
let cp: ControlPlane;
let admin: ClusterClient;
let storeToken: string;
let local: LocalVerifier;
const watches: BoundObjectWatch[] = [];

function storeWatch(options: { maxStalenessSeconds?: number; namespaces?: string[] } = {}): BoundObjectWatch {
  const watch = new BoundObjectWatch({
    client: cp.kubeConfigForToken(storeToken),
    namespaces: options.namespaces ?? ['api'],
    ...options,
  });
  watches.push(watch);
  return watch.start();
}

/** TokenReview as the data store asks it, without caches of our own (the API server keeps its 10 s success cache). */
function tokenReview(): TokenReviewVerifier {
  return new TokenReviewVerifier({
    client: cp.kubeConfigForToken(storeToken),
    audience: 'data-store',
    cacheTtlSeconds: 0,
    negativeCacheTtlSeconds: 0,
  });
}

async function reviewVerdict(token: string): Promise<'valid' | 'revoked'> {
  try {
    await tokenReview().verify(token);
    return 'valid';
  } catch (err) {
    if (err instanceof KubeAuthError && err.code === 'tokenreview_rejected') return 'revoked';
    throw err;
  }
}

async function watchVerdict(checker: RevocationChecker, token: string): Promise<RevocationVerdict> {
  return checker.check(tokenBinding(await local.verify(token)));
}

async function podToken(namespace: string, pod: string, uid: string, serviceAccount = 'api'): Promise<string> {
  return (
    await admin.requestToken({
      namespace,
      serviceAccount,
      audiences: ['data-store'],
      expirationSeconds: 3600,
      pod: { name: pod, uid },
    })
  ).token;
}

/** Polls `probe` every 20 ms until it is true; returns the ms it took. */
async function until(probe: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await probe())) {
    if (performance.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(20);
  }
  return performance.now() - started;
}

beforeAll(async () => {
  cp = await ControlPlane.start();
  admin = new ClusterClient(cp.kubeConfig());
  await admin.createNode('node-1');
  for (const ns of ['api', 'data-store', 'other']) await admin.applyNamespace(ns);
  await admin.createServiceAccount('api', 'api');
  await admin.createServiceAccount('other', 'api');
  await admin.createServiceAccount('data-store', 'data-store');
  await admin.bindAuthDelegator('data-store', 'data-store');
  // What deploy/manifests grants the data store in each admitted namespace.
  await admin.grantRole(
    'api',
    'kube-service-auth-revocation',
    [{ apiGroups: [''], resources: ['pods', 'serviceaccounts'], verbs: ['get', 'list', 'watch'] }],
    [{ namespace: 'data-store', name: 'data-store' }],
  );
  const storePod = await admin.createPod('data-store', 'app', 'data-store', { nodeName: 'node-1' });
  storeToken = (
    await admin.requestToken({
      namespace: 'data-store',
      serviceAccount: 'data-store',
      expirationSeconds: 3600,
      pod: { name: 'app', uid: storePod },
    })
  ).token;
  local = new LocalVerifier({
    issuers: [cp.issuer],
    audience: 'data-store',
    fetch: createKubeFetch({ caPem: cp.caPem, tokenSource: new StaticTokenSource(storeToken) }),
    requirePodBinding: true,
    cacheTtlSeconds: 0,
  });
});

afterAll(async () => {
  for (const watch of watches) watch.stop();
  await cp?.stop();
});

describe('the revocation watch against the real API server', () => {
  it('lists and watches with only a namespaced Role, and accepts a live pod with no API call, as TokenReview does', async () => {
    const watch = storeWatch();
    await watch.waitForSync();
    const uid = await admin.createPod('api', 'live', 'api', { nodeName: 'node-1' });
    const token = await podToken('api', 'live', uid);
    const checker = new RevocationChecker({ watch });
    await until(() => watch.lookup('pods', 'api', 'live').state === 'present', 5000);
    expect(checker.checkCached(tokenBinding(await local.verify(token)))).toEqual({ status: 'valid', lookups: 0 });
    expect(await reviewVerdict(token)).toBe('valid');
    expect(checker.lookups).toBe(0);
  });

  it('refuses the token of a force-deleted pod as soon as the deletion is watched, with no API call', async () => {
    const watch = storeWatch();
    await watch.waitForSync();
    const checker = new RevocationChecker({ watch });
    const uid = await admin.createPod('api', 'forced', 'api', { nodeName: 'node-1' });
    const token = await podToken('api', 'forced', uid);
    const binding = tokenBinding(await local.verify(token));
    await until(() => checker.checkCached(binding)?.status === 'valid', 5000);
    const deleted = performance.now();
    await admin.core.deleteNamespacedPod({ namespace: 'api', name: 'forced', gracePeriodSeconds: 0 });
    await until(() => checker.checkCached(binding)?.status === 'revoked', 5000);
    const latencyMs = performance.now() - deleted;
    console.log(`[revocation] forced deletion → first refusal by the watch: ${latencyMs.toFixed(0)} ms`);
    expect(checker.lookups).toBe(0);
    expect(await reviewVerdict(token)).toBe('revoked');
  });

  it('a force-deleted pod, the three modes side by side: watch refuses within seconds, TokenReview within the API server cache, local keeps accepting', async () => {
    const watch = storeWatch();
    await watch.waitForSync();
    const offline = new ServiceAccountVerifier({ mode: 'local', local });
    // Watch mode as the product builds it, but without a TokenReview fallback: any refusal is the watch's own.
    const watchMode = new WatchRevocationVerifier({ verifier: offline, checker: new RevocationChecker({ watch }) });
    // TokenReview mode with the product defaults: our 10 s result cache in front of the API server's own 10 s cache.
    const reviewMode = new TokenReviewVerifier({
      client: cp.kubeConfigForToken(storeToken),
      audience: 'data-store',
      requirePodBinding: true,
    });
    type Mode = 'watch' | 'tokenreview' | 'local';
    const modes: Record<Mode, (token: string) => Promise<unknown>> = {
      watch: (t) => watchMode.verify(t),
      tokenreview: (t) => reviewMode.verify(t),
      // Plain local mode: `local` has no result cache, so every call verifies the signature again.
      local: (t) => offline.verify(t),
    };
    const refusalOf = async (mode: Mode, token: string): Promise<string | undefined> => {
      try {
        await modes[mode](token);
        return undefined;
      } catch (err) {
        return err instanceof KubeAuthError ? err.code : String(err);
      }
    };
    const uid = await admin.createPod('api', 'three-modes', 'api', { nodeName: 'node-1' });
    const token = await podToken('api', 'three-modes', uid);
    await until(() => watch.lookup('pods', 'api', 'three-modes').state === 'present', 5000);
    for (const mode of ['watch', 'tokenreview', 'local'] as const)
      expect(await refusalOf(mode, token), `${mode} before the deletion`).toBeUndefined();

    // Each mode is asked every 50 ms from the moment the deletion is sent until watch and TokenReview have refused.
    const refused = new Map<Mode, { ms: number; code: string }>();
    let localChecks = 0;
    const deletedAt = performance.now();
    const deletion = admin.core.deleteNamespacedPod({ namespace: 'api', name: 'three-modes', gracePeriodSeconds: 0 });
    const windowMs = 30_000;
    while (!(refused.has('watch') && refused.has('tokenreview')) && performance.now() - deletedAt < windowMs) {
      await Promise.all(
        (['watch', 'tokenreview', 'local'] as const)
          .filter((mode) => !refused.has(mode))
          .map(async (mode) => {
            const code = await refusalOf(mode, token);
            if (mode === 'local') localChecks++;
            if (code !== undefined) refused.set(mode, { ms: performance.now() - deletedAt, code });
          }),
      );
      await sleep(50);
    }
    await deletion;
    const elapsedMs = performance.now() - deletedAt;
    // After the window (as long as TokenReview took), local mode still accepts: the documented trade-off.
    const localAtEnd = await refusalOf('local', token);
    const show = (mode: Mode) => {
      const r = refused.get(mode);
      return r ? `${r.ms.toFixed(0)} ms (${r.code})` : `not refused within ${(elapsedMs / 1000).toFixed(1)} s`;
    };
    console.log(
      `[revocation] forced deletion → first refusal: watch ${show('watch')}, TokenReview ${show('tokenreview')}, ` +
        `local ${show('local')} (${localChecks + 1} checks, ${localAtEnd === undefined ? 'still accepted at the end' : `refused at the end: ${localAtEnd}`})`,
    );
    expect(refused.get('watch')?.code).toBe('token_revoked');
    expect(refused.get('watch')?.ms).toBeLessThan(5000);
    expect(refused.get('tokenreview')?.code).toBe('tokenreview_rejected');
    // Up to our 10 s cache plus the API server's 10 s, with room for a loaded machine.
    expect(refused.get('tokenreview')?.ms).toBeLessThan(25_000);
    expect(refused.has('local')).toBe(false);
    expect(localAtEnd).toBeUndefined();
  }, 60_000);

  it('follows a graceful deletion exactly as the API server does: valid until 60 s after the deletionTimestamp', async () => {
    const watch = storeWatch();
    await watch.waitForSync();
    const checker = new RevocationChecker({ watch });
    const uid = await admin.createPod('api', 'graceful', 'api', { nodeName: 'node-1' });
    const token = await podToken('api', 'graceful', uid);
    const binding = tokenBinding(await local.verify(token));
    // No kubelet runs, so the pod stays Terminating with its deletionTimestamp (now + 1 s) as a real one would.
    await admin.core.deleteNamespacedPod({ namespace: 'api', name: 'graceful', gracePeriodSeconds: 1 });
    await until(() => {
      const seen = watch.lookup('pods', 'api', 'graceful');
      return seen.state === 'present' && seen.object.deletionTimestamp !== undefined;
    }, 5000);
    const seen = watch.lookup('pods', 'api', 'graceful');
    const deletionTimestamp = seen.state === 'present' ? (seen.object.deletionTimestamp as number) : 0;
    expect(checker.checkCached(binding)?.status).toBe('valid');
    expect(await reviewVerdict(token)).toBe('valid');
    // Poll both sides until both refuse; they must flip together, after deletionTimestamp + 60 s.
    let watchFlip = 0;
    let reviewFlip = 0;
    await until(async () => {
      if (!watchFlip && checker.checkCached(binding)?.status === 'revoked') watchFlip = Date.now();
      if (!reviewFlip && (await reviewVerdict(token)) === 'revoked') reviewFlip = Date.now();
      return watchFlip > 0 && reviewFlip > 0;
    }, 100_000);
    console.log(
      `[revocation] graceful deletion: watch refused at deletionTimestamp + ${((watchFlip - deletionTimestamp) / 1000).toFixed(1)} s, ` +
        `TokenReview at + ${((reviewFlip - deletionTimestamp) / 1000).toFixed(1)} s`,
    );
    expect(watchFlip).toBeGreaterThanOrEqual(deletionTimestamp + 60_000);
    expect(reviewFlip).toBeGreaterThanOrEqual(deletionTimestamp + 60_000);
    // TokenReview answers from the API server's 10 s success cache, so it may flip up to ~10 s later.
    expect(Math.abs(reviewFlip - watchFlip)).toBeLessThan(12_000);
    expect(checker.lookups).toBe(0);
  }, 150_000);

  it('refuses the old token of a pod recreated under the same name and accepts the new one', async () => {
    const watch = storeWatch();
    await watch.waitForSync();
    const checker = new RevocationChecker({ watch });
    const oldUid = await admin.createPod('api', 'same-name', 'api', { nodeName: 'node-1' });
    const oldToken = await podToken('api', 'same-name', oldUid);
    await admin.deletePod('api', 'same-name');
    const newUid = await admin.createPod('api', 'same-name', 'api', { nodeName: 'node-1' });
    const newToken = await podToken('api', 'same-name', newUid);
    expect(newUid).not.toBe(oldUid);
    await until(() => {
      const seen = watch.lookup('pods', 'api', 'same-name');
      return seen.state === 'present' && seen.object.uid === newUid;
    }, 5000);
    expect(await watchVerdict(checker, oldToken)).toMatchObject({ status: 'revoked', lookups: 0 });
    expect(await watchVerdict(checker, newToken)).toMatchObject({ status: 'valid', lookups: 0 });
    expect([await reviewVerdict(oldToken), await reviewVerdict(newToken)]).toEqual(['revoked', 'valid']);
  });

  it('refuses tokens of a ServiceAccount deleted and recreated with a new uid', async () => {
    const watch = storeWatch();
    await watch.waitForSync();
    const checker = new RevocationChecker({ watch });
    await admin.createServiceAccount('api', 'worker');
    const uid = await admin.createPod('api', 'worker', 'worker', { nodeName: 'node-1' });
    const token = await podToken('api', 'worker', uid, 'worker');
    await admin.deleteServiceAccount('api', 'worker');
    await admin.createServiceAccount('api', 'worker');
    await until(async () => (await watchVerdict(checker, token)).status === 'revoked', 5000);
    expect(checker.lookups).toBe(0);
    expect(await reviewVerdict(token)).toBe('revoked');
  });

  it('cannot judge a namespace it does not watch, and asks the API server nothing about it', async () => {
    const watch = storeWatch();
    await watch.waitForSync();
    const checker = new RevocationChecker({ watch });
    const uid = await admin.createPod('other', 'outsider', 'api', { nodeName: 'node-1' });
    const token = await podToken('other', 'outsider', uid);
    expect(await watchVerdict(checker, token)).toMatchObject({ status: 'unknown', why: 'not_watched', lookups: 0 });
    expect(checker.lookups).toBe(0);
  });

  it('reads a pod the watch has not seen yet (cache lag) instead of refusing it', async () => {
    // A watch frozen after its first list stands for one that lags: every pod created since is unseen.
    const watch = storeWatch({ maxStalenessSeconds: 600 });
    await watch.waitForSync();
    watch.stop();
    const checker = new RevocationChecker({ watch });
    const uid = await admin.createPod('api', 'newborn', 'api', { nodeName: 'node-1' });
    const token = await podToken('api', 'newborn', uid);
    const binding = tokenBinding(await local.verify(token));
    expect(checker.checkCached(binding)).toBeUndefined();
    const verdicts = await Promise.all([checker.check(binding), checker.check(binding), checker.check(binding)]);
    expect(verdicts.map((v) => v.status)).toEqual(['valid', 'valid', 'valid']);
    expect(checker.lookups).toBe(1);
    // A pod that never existed under that uid is refused after one live read, then remembered.
    const ghost = { ...binding, pod: { name: 'ghost', uid: '00000000-0000-0000-0000-000000000000' } };
    expect(await checker.check(ghost)).toMatchObject({ status: 'revoked' });
    expect(await checker.check(ghost)).toMatchObject({ status: 'revoked', lookups: 0 });
  });

  it('keeps judging through a short API-server outage, says stale beyond the bound, and catches up after the restart', async () => {
    const watch = storeWatch({ maxStalenessSeconds: 3 });
    await watch.waitForSync();
    const checker = new RevocationChecker({ watch });
    const uid = await admin.createPod('api', 'survivor', 'api', { nodeName: 'node-1' });
    const doomedUid = await admin.createPod('api', 'doomed', 'api', { nodeName: 'node-1' });
    const token = tokenBinding(await local.verify(await podToken('api', 'survivor', uid)));
    const doomed = tokenBinding(await local.verify(await podToken('api', 'doomed', doomedUid)));
    await until(
      () => checker.checkCached(token)?.status === 'valid' && checker.checkCached(doomed)?.status === 'valid',
      5000,
    );

    await cp.stopApiServer();
    const stopped = performance.now();
    expect(checker.checkCached(token)?.status).toBe('valid');
    await until(() => !watch.ready, 10_000);
    expect(performance.now() - stopped).toBeGreaterThanOrEqual(2900);
    expect(checker.checkCached(token)).toMatchObject({ status: 'unknown', why: 'stale' });

    await cp.startApiServer();
    await until(() => watch.ready, 30_000);
    expect(checker.checkCached(token)?.status).toBe('valid');
    await admin.core.deleteNamespacedPod({ namespace: 'api', name: 'doomed', gracePeriodSeconds: 0 });
    await until(() => checker.checkCached(doomed)?.status === 'revoked', 5000);
  }, 120_000);

  it('reaches the same verdict as TokenReview on the same objects (differential)', async () => {
    const watch = storeWatch();
    await watch.waitForSync();
    const checker = new RevocationChecker({ watch });
    await admin.createServiceAccount('api', 'diff-sa');
    const cases: { name: string; token: string }[] = [];
    const mint = async (pod: string, sa = 'api') =>
      podToken('api', pod, await admin.createPod('api', pod, sa, { nodeName: 'node-1' }), sa);
    cases.push({ name: 'live pod', token: await mint('d-live') });
    cases.push({ name: 'pod force-deleted', token: await mint('d-deleted') });
    cases.push({ name: 'pod recreated', token: await mint('d-recreated') });
    cases.push({ name: 'pod terminating, in grace', token: await mint('d-terminating') });
    cases.push({ name: 'ServiceAccount deleted', token: await mint('d-sa', 'diff-sa') });
    // Changes made after minting and before either side first sees the token (no cache on either side).
    await admin.deletePod('api', 'd-deleted');
    await admin.deletePod('api', 'd-recreated');
    await admin.createPod('api', 'd-recreated', 'api', { nodeName: 'node-1' });
    await admin.core.deleteNamespacedPod({ namespace: 'api', name: 'd-terminating', gracePeriodSeconds: 30 });
    await admin.deleteServiceAccount('api', 'diff-sa');
    await sleep(500);
    const table: Record<string, [string, string]> = {};
    for (const { name, token } of cases) {
      const verdict = await watchVerdict(checker, token);
      table[name] = [verdict.status, await reviewVerdict(token)];
    }
    console.log('[revocation] differential (watch, TokenReview):', table);
    for (const [name, [ours, theirs]] of Object.entries(table)) expect(ours, name).toBe(theirs);
    expect(Object.values(table).map(([ours]) => ours)).toEqual(['valid', 'revoked', 'revoked', 'valid', 'revoked']);
  });
});

describe('SubjectAccessReview against the real RBAC', () => {
  it('allows what a Role grants, denies what it does not, and cannot ask without system:auth-delegator', async () => {
    const uid = await admin.createPod('api', 'sar', 'api', { nodeName: 'node-1' });
    const identity = await local.verify(await podToken('api', 'sar', uid));
    await admin.grantRole(
      'data-store',
      'records-reader',
      [{ apiGroups: ['data.example.com'], resources: ['records'], verbs: ['get'] }],
      [{ namespace: 'api', name: 'api' }],
    );
    const reviewer = new SubjectAccessReviewer({ client: cp.kubeConfigForToken(storeToken) });
    const read = { group: 'data.example.com', resource: 'records', verb: 'get', namespace: 'data-store' };
    await expect(reviewer.authorize(identity, read)).resolves.toBeUndefined();
    await expect(reviewer.authorize(identity, { ...read, verb: 'delete' })).rejects.toMatchObject({
      code: 'subjectaccessreview_denied',
    });
    await expect(reviewer.authorize(identity, { path: '/metrics', verb: 'get' })).rejects.toMatchObject({
      code: 'subjectaccessreview_denied',
    });
    // The caller's own token is not bound to system:auth-delegator: it may not ask.
    const unprivileged = new SubjectAccessReviewer({
      client: cp.kubeConfigForToken(await podToken('api', 'sar', uid)),
    });
    await expect(unprivileged.authorize(identity, read)).rejects.toMatchObject({
      code: 'subjectaccessreview_unavailable',
    });
  });
});
