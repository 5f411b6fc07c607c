/**
 * `pnpm bench`, section 5: revocation. How long after a pod is deleted each mode first refuses its token (watch mode,
 * TokenReview mode, plain local mode), how many API-server requests each mode makes per 1,000 verified requests, and
 * the memory the watch holds per 1,000 watched pods. Runs in the benchmark process against the real control plane.
 */
import {
  BoundObjectWatch,
  kubeMetadataClient,
  LocalVerifier,
  RevocationChecker,
  ServiceAccountVerifier,
  tokenBinding,
  TokenReviewVerifier,
  WatchRevocationVerifier,
  type MetadataClient,
} from '@kube-service-auth/verifier';
import { KubeConfig } from '@kubernetes/client-node';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterClient, type ControlPlane } from '@kube-service-auth/testing';
import type { Fixture } from './fixture.js';
import { AUDIENCE } from './protocol.js';

type Log = (message: string) => void;
export type RevocationMode = 'watch' | 'tokenreview' | 'local';

export interface RevocationResult {
  trials: number;
  /** Requests per second each mode verifies during a trial. */
  trialRate: number;
  windowSeconds: number;
  /** ms from the forced deletion being sent to each mode's first refusal, per trial; `undefined` when never refused. */
  latency: Record<RevocationMode, (number | undefined)[]>;
  /** Steady state with 100 callers: verified requests and API-server requests. */
  load: { mode: RevocationMode; verified: number; apiRequests: number; seconds: number }[];
  memory: { pods: number; heapBytes: number };
  /** In-process cost of one verification of a cached caller, local mode alone and with the watch check (µs). */
  perRequest: { localMicros: number; watchMicros: number; iterations: number };
}

const MODES: RevocationMode[] = ['watch', 'tokenreview', 'local'];

function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name]?.trim() || fallback);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

function kubeConfig(fixture: Fixture): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'bench',
        server: fixture.access.server,
        caData: Buffer.from(fixture.access.caPem).toString('base64'),
        skipTLSVerify: false,
      },
    ],
    users: [{ name: 'data-store', token: fixture.access.token }],
    contexts: [{ name: 'bench', cluster: 'bench', user: 'data-store' }],
    currentContext: 'bench',
  });
  return kc;
}

/** A MetadataClient that counts the requests it sends. */
function counting(inner: MetadataClient): MetadataClient & { requests: number } {
  const counted = {
    requests: 0,
    list: (path: string, signal: AbortSignal) => (counted.requests++, inner.list(path, signal)),
    get: (path: string, signal: AbortSignal) => (counted.requests++, inner.get(path, signal)),
    watch: (...args: Parameters<MetadataClient['watch']>) => (counted.requests++, inner.watch(...args)),
  };
  return counted;
}

function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

export async function revocationSection(cp: ControlPlane, fixture: Fixture, log: Log): Promise<RevocationResult> {
  const trials = Math.round(envNumber('BENCH_REVOCATION_TRIALS', 3));
  const windowSeconds = envNumber('BENCH_REVOCATION_WINDOW_SECONDS', 25);
  const trialRate = 200;
  const loadSeconds = envNumber('BENCH_REVOCATION_LOAD_SECONDS', 10);
  const loadRate = 1000;
  const watchedPods = Math.round(envNumber('BENCH_REVOCATION_PODS', 2000));

  const admin = new ClusterClient(cp.kubeConfig());
  for (const namespace of ['api', 'watch-memory']) {
    await admin.applyNamespace(namespace);
    await admin.grantRole(
      namespace,
      'revocation',
      [{ apiGroups: [''], resources: ['pods', 'serviceaccounts'], verbs: ['get', 'list', 'watch'] }],
      [{ namespace: 'data-store', name: 'data-store' }],
    );
  }
  const kc = kubeConfig(fixture);
  const metadata = counting(kubeMetadataClient(kc));
  const watch = new BoundObjectWatch({ client: metadata, namespaces: ['api'] }).start();
  await watch.waitForSync();
  const checker = new RevocationChecker({ watch });
  const local = new LocalVerifier({
    issuers: [fixture.issuer],
    audience: AUDIENCE,
    fetch: fixture.fetch,
    requirePodBinding: true,
  });
  // The product defaults: 10 s result cache in front of the API server's own 10 s cache.
  const tokenReview = new TokenReviewVerifier({ client: kc, audience: AUDIENCE, cacheTtlSeconds: 10 });

  // Why each mode last refused a token, for the error when one refuses before the deletion.
  const refusals = new Map<RevocationMode, string>();
  const verify = async (mode: RevocationMode, token: string): Promise<boolean> => {
    try {
      if (mode === 'tokenreview') {
        await tokenReview.verify(token);
        return true;
      }
      const identity = await local.verify(token);
      if (mode === 'local') return true;
      const binding = tokenBinding(identity);
      const verdict = checker.checkCached(binding) ?? (await checker.check(binding));
      if (verdict.status === 'valid') return true;
      refusals.set(mode, `${verdict.status}: ${verdict.message}`);
      if (verdict.status === 'revoked') return false;
      // As WatchVerifier does: what the watch cannot tell (a live read that failed under load, say) goes to TokenReview.
      await tokenReview.verify(token);
      return true;
    } catch (err) {
      refusals.set(mode, err instanceof Error ? err.message : String(err));
      return false;
    }
  };

  // 5a. Deletion → first refusal, the three modes side by side on the same pod.
  const latency: Record<RevocationMode, (number | undefined)[]> = { watch: [], tokenreview: [], local: [] };
  for (let trial = 0; trial < trials; trial++) {
    const name = `revoked-${trial}`;
    const uid = await admin.createPod('api', name, 'api', { nodeName: 'node-1' });
    const token = (
      await admin.requestToken({
        namespace: 'api',
        serviceAccount: 'api',
        audiences: [AUDIENCE],
        expirationSeconds: 3600,
        pod: { name, uid },
      })
    ).token;
    // Taken when the deletion is sent, not when its answer comes back: on a busy machine the watch event (and so a
    // refusal) can arrive while the DELETE call is still waiting for its response.
    let deletedAt = 0;
    const refusedAt = new Map<RevocationMode, number>();
    let running = true;
    const drivers = MODES.map(async (mode) => {
      while (running && !refusedAt.has(mode)) {
        const ok = await verify(mode, token);
        if (!ok) {
          if (!deletedAt)
            throw new Error(`${mode} refused the token of ${name} before it was deleted (${refusals.get(mode)})`);
          refusedAt.set(mode, performance.now());
        }
        await sleep(1000 / trialRate);
      }
    });
    await sleep(2000);
    deletedAt = performance.now();
    await admin.core.deleteNamespacedPod({ namespace: 'api', name, gracePeriodSeconds: 0 });
    const deadline = deletedAt + windowSeconds * 1000;
    while (performance.now() < deadline && refusedAt.size < MODES.length) await sleep(50);
    running = false;
    await Promise.all(drivers);
    for (const mode of MODES) {
      const at = refusedAt.get(mode);
      latency[mode].push(at === undefined ? undefined : at - deletedAt);
    }
    log(
      `  trial ${trial + 1}/${trials}: ` +
        MODES.map(
          (m) =>
            `${m} ${refusedAt.has(m) ? `${((refusedAt.get(m) as number) - deletedAt).toFixed(0)} ms` : `not within ${windowSeconds} s`}`,
        ).join(', '),
    );
  }

  // 5b. API-server requests per verified request, steady state, 100 callers round robin.
  const load: RevocationResult['load'] = [];
  const tokens = fixture.callerTokens;
  for (const token of tokens)
    for (const mode of MODES) if (!(await verify(mode, token))) throw new Error(`${mode} refused a caller token`);
  for (const mode of MODES) {
    const before = { metadata: metadata.requests, reviews: tokenReview.reviews, lookups: checker.lookups };
    let verified = 0;
    const started = performance.now();
    const interval = 1000 / loadRate;
    let next = started;
    while (performance.now() - started < loadSeconds * 1000) {
      const batch: Promise<boolean>[] = [];
      while (next <= performance.now()) {
        batch.push(verify(mode, tokens[verified % tokens.length] as string));
        verified++;
        next += interval;
      }
      await Promise.all(batch);
      await sleep(1);
    }
    const apiRequests = metadata.requests - before.metadata + (tokenReview.reviews - before.reviews);
    load.push({ mode, verified, apiRequests, seconds: (performance.now() - started) / 1000 });
    log(`  ${mode.padEnd(11)} ${verified} verified in ${loadSeconds} s, ${apiRequests} API-server requests`);
  }
  // 5b'. What the watch adds to one request: a cached caller, verified in-process (no HTTP), local alone vs + watch.
  const localOnly = new ServiceAccountVerifier({ mode: 'local', local });
  const watchVerifier = new WatchRevocationVerifier({ verifier: localOnly, checker, fallback: tokenReview });
  const iterations = 200_000;
  const time = (verifier: { check: (token: string) => unknown }): number => {
    const token = tokens[0] as string;
    for (let i = 0; i < 20_000; i++) verifier.check(token);
    const started = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) verifier.check(token);
    return Number(process.hrtime.bigint() - started) / 1000 / iterations;
  };
  await watchVerifier.verify(tokens[0] as string);
  const perRequest = {
    localMicros: Math.min(time(localOnly), time(localOnly)),
    watchMicros: Math.min(time(watchVerifier), time(watchVerifier)),
    iterations,
  };
  log(
    `  per cached request: local ${perRequest.localMicros.toFixed(2)} µs, local + watch ${perRequest.watchMicros.toFixed(2)} µs`,
  );
  watch.stop();

  // 5c. Memory of the watch per 1,000 pods.
  log(`  creating ${watchedPods} pods in namespace watch-memory`);
  for (let i = 0; i < watchedPods; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, watchedPods - i) }, (_, j) =>
        admin.createPod('watch-memory', `pod-${i + j}`, 'default', { nodeName: 'node-1' }),
      ),
    );
  }
  // Measured as what the heap releases when the synced watch is dropped: robust to whatever else the process
  // allocated or freed meanwhile.
  let memoryWatch: BoundObjectWatch | undefined = new BoundObjectWatch({
    client: kubeMetadataClient(kc),
    namespaces: ['watch-memory'],
  }).start();
  await memoryWatch.waitForSync(120_000);
  if (memoryWatch.objectCount < watchedPods)
    throw new Error(`the watch holds ${memoryWatch.objectCount} objects, expected ${watchedPods}`);
  await sleep(500);
  gc();
  gc();
  const withWatch = process.memoryUsage().heapUsed;
  memoryWatch.stop();
  memoryWatch = undefined;
  await sleep(500);
  gc();
  gc();
  const heapBytes = withWatch - process.memoryUsage().heapUsed;
  log(
    `  ${watchedPods} watched pods: heap +${(heapBytes / 1024).toFixed(0)} KiB (${(((heapBytes / watchedPods) * 1000) / 1024).toFixed(0)} KiB per 1,000)`,
  );

  return { trials, trialRate, windowSeconds, latency, load, memory: { pods: watchedPods, heapBytes }, perRequest };
}

const median = (values: number[]): number | undefined => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};

/** The markdown of section 5. */
export function revocationMarkdown(r: RevocationResult): string {
  const label: Record<RevocationMode, string> = {
    watch: 'watch mode (local + watch of pods/ServiceAccounts)',
    tokenreview: 'TokenReview mode (10 s result cache)',
    local: 'local mode (JWKS only)',
  };
  const latencyRows = MODES.map((mode) => {
    const values = r.latency[mode];
    const refused = values.filter((v): v is number => v !== undefined);
    const m = median(refused);
    const all = values.map((v) => (v === undefined ? '—' : `${v.toFixed(0)}`)).join(' / ');
    return `| ${label[mode]} | ${refused.length === values.length && m !== undefined ? `${m.toFixed(0)} ms` : `not refused within ${r.windowSeconds} s (${values.length - refused.length} of ${values.length} trials)`} | ${all} |`;
  });
  const loadRows = r.load.map(
    (l) =>
      `| ${label[l.mode]} | ${l.verified} | ${l.apiRequests} | ${((l.apiRequests / l.verified) * 1000).toFixed(2)} |`,
  );
  return [
    '## 5. Revocation',
    '',
    `A caller pod is force-deleted (\`gracePeriodSeconds: 0\`) while each mode verifies its token ${r.trialRate} times per`,
    `second; the time from the deletion call being sent to each mode's first refusal, ${r.trials} trials (median, then each).`,
    'A graceful deletion is refused by the watch and by TokenReview alike 60 s after its `deletionTimestamp` (the API',
    "server's rule), so it is not timed here. Local mode cannot see a deletion: it accepts the token until it expires.",
    '',
    '| mode | deletion → first refusal | trials (ms) |',
    '| --- | --- | --- |',
    ...latencyRows,
    '',
    `API-server requests during ${r.load[0]?.seconds.toFixed(0) ?? '?'} s of steady traffic (100 callers, round robin, ~1,000 verifications/s; the`,
    "watch's initial list and the key set fetch happened before).",
    '',
    '| mode | verified | API-server requests | per 1,000 verified |',
    '| --- | --- | --- | --- |',
    ...loadRows,
    '',
    `Cost per request of a cached caller, in-process (${r.perRequest.iterations.toLocaleString('en-US')} calls): local mode ${r.perRequest.localMicros.toFixed(2)} µs, ` +
      `local + watch check ${r.perRequest.watchMicros.toFixed(2)} µs (+${(r.perRequest.watchMicros - r.perRequest.localMicros).toFixed(2)} µs).`,
    '',
    `Memory of the watch: ${r.memory.pods} pods listed and watched (metadata only) add ${(r.memory.heapBytes / 1024).toFixed(0)} KiB of heap, ` +
      `**${(((r.memory.heapBytes / r.memory.pods) * 1000) / 1024).toFixed(0)} KiB per 1,000 watched pods** (after a full GC).`,
    '',
  ].join('\n');
}
