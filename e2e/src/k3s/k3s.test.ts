import { createKubeFetch, LocalVerifier, StaticTokenSource, TokenReviewVerifier } from '@kube-service-auth/verifier';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../cases/http.js';
import { ClusterClient, PAUSE_IMAGE } from '@kube-service-auth/testing';
import {
  detectTestcontainersRuntime,
  ensureImages,
  k3sImages,
  pullAllowed,
  startK3s,
  type K3sCluster,
} from './k3s-target.js';

// The verifier against K3s, a real cluster with a kubelet, when a container runtime is here and the K3s image is in
// it (or can be pulled, with K3S_PULL=1: by default a test run reaches no registry). Otherwise this file skips with
// the reason (a missing image is a missing prerequisite, not a failure); the local control plane (packages/testing,
// e2e/src/local) and the kind suite (`pnpm e2e`) run the same checks.
const runtime = await detectTestcontainersRuntime();
const images = runtime.available ? await ensureImages(k3sImages()) : undefined;
const skipReason = !runtime.available
  ? `${runtime.reason} (${runtime.detail})`
  : images && !images.available
    ? `${images.reason} (${images.detail})`
    : undefined;
if (skipReason) console.log(`[k3s] skipped: ${skipReason}; the local control plane runs these checks instead`);

const NS = 'k3s-e2e';

it('finds out quickly whether a container runtime is here, and names the reason when not', async () => {
  const started = Date.now();
  const status = await detectTestcontainersRuntime(15_000);
  expect(Date.now() - started).toBeLessThan(16_000);
  if (!status.available) expect(status.reason).toBe('no container runtime');
  expect(status.available).toBe(runtime.available);
});

it('never pulls unless K3S_PULL=1: a missing image is a reason to skip, naming the switch', async () => {
  const pulled: string[] = [];
  const status = await ensureImages(['rancher/k3s:v1.31.2-k3s1', 'testcontainers/ryuk:0.14.0'], {
    pull: false,
    source: {
      exists: async (image) => image.string.includes('ryuk'),
      pull: async (image) => {
        pulled.push(image.string);
      },
    },
  });
  expect(pulled).toEqual([]);
  expect(status).toEqual({
    available: false,
    reason: 'image rancher/k3s:v1.31.2-k3s1 is not in the engine',
    detail: 'K3S_PULL=1 lets the suite pull it from its registry',
  });
  expect(pullAllowed({})).toBe(false);
  expect(pullAllowed({ K3S_PULL: '0' })).toBe(false);
  expect(pullAllowed({ K3S_PULL: '1' })).toBe(true);
});

it("with K3S_PULL=1, an engine that cannot pull the K3s image is a reason to skip, named with the image and the engine's error", async () => {
  const pulled: string[] = [];
  const status = await ensureImages(['rancher/k3s:v1.31.2-k3s1', 'testcontainers/ryuk:0.14.0'], {
    pull: true,
    source: {
      exists: async (image) => image.string.includes('ryuk'),
      pull: async (image) => {
        pulled.push(image.string);
        throw new Error(
          '(HTTP code 500) server error - Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host\nmore',
        );
      },
    },
  });
  expect(pulled).toEqual(['rancher/k3s:v1.31.2-k3s1']);
  expect(status).toEqual({
    available: false,
    reason: 'image rancher/k3s:v1.31.2-k3s1 is not in the engine and cannot be pulled',
    detail:
      '(HTTP code 500) server error - Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
  });
  expect(
    await ensureImages(['a:1'], {
      source: {
        exists: async () => true,
        pull: async () => {
          throw new Error('never called');
        },
      },
    }),
  ).toEqual({ available: true });
});

it('needs K3s and, unless disabled, the Ryuk reaper image', () => {
  expect(k3sImages({})).toEqual(['rancher/k3s:v1.31.2-k3s1', expect.stringMatching(/testcontainers\/ryuk:/)]);
  expect(k3sImages({ K3S_IMAGE: 'my/k3s:1', TESTCONTAINERS_RYUK_DISABLED: 'true' })).toEqual(['my/k3s:1']);
});

describe.skipIf(skipReason !== undefined)(
  skipReason ? `verifier on K3s (skipped: ${skipReason})` : 'verifier on K3s',
  () => {
    let k3s: K3sCluster;
    let client: ClusterClient;
    let pod: { name: string; uid: string };
    /** A token of the API server's own audience, to read the JWKS as a pod would with its default token. */
    let readerToken: string;

    beforeAll(async () => {
      k3s = await startK3s();
      client = new ClusterClient(k3s.kubeConfig);
      await client.applyNamespace(NS);
      await client.createServiceAccount(NS, 'api');
      await client.createServiceAccount(NS, 'reader');
      // A real pod that never runs: a scheduling gate keeps it pending, so no image is pulled.
      const created = await client.core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name: 'api' },
          spec: {
            serviceAccountName: 'api',
            automountServiceAccountToken: false,
            schedulingGates: [{ name: 'kube-service-auth/never' }],
            containers: [{ name: 'main', image: PAUSE_IMAGE }],
          },
        },
      });
      pod = { name: 'api', uid: created.metadata?.uid as string };
      readerToken = (await client.requestToken({ namespace: NS, serviceAccount: 'reader' })).token;
    }, 300_000);

    afterAll(async () => {
      await k3s?.stop();
    });

    const mint = async (audiences = ['data-store']) =>
      (await client.requestToken({ namespace: NS, serviceAccount: 'api', audiences, expirationSeconds: 600, pod }))
        .token;

    const localVerifier = (issuer: string, audience: string) =>
      new LocalVerifier({
        // The advertised jwks_uri names the in-cluster address; from outside, the mapped API server port serves it.
        issuers: [{ issuer, jwksUri: `${k3s.server}/openid/v1/jwks` }],
        audience,
        fetch: createKubeFetch({ caPem: k3s.caPem, tokenSource: new StaticTokenSource(readerToken) }),
        requirePodBinding: true,
      });

    it('serves OIDC discovery to a ServiceAccount token, with the issuer the tokens carry', async () => {
      const token = await mint();
      const fetch = createKubeFetch({ caPem: k3s.caPem, tokenSource: new StaticTokenSource(readerToken) });
      const res = await fetch(`${k3s.server}/.well-known/openid-configuration`, {
        headers: {},
        signal: AbortSignal.timeout(10_000),
      });
      expect(res.status).toBe(200);
      const doc = JSON.parse(await res.text()) as { issuer: string; jwks_uri: string };
      expect(doc.issuer).toBe(decodeJwt(token).iss);
    });

    it('LocalVerifier verifies a pod-bound TokenRequest token offline, and refuses it for another audience', async () => {
      const token = await mint();
      const issuer = decodeJwt(token).iss as string;
      const identity = await localVerifier(issuer, 'data-store').verify(token);
      expect(identity).toMatchObject({
        username: `system:serviceaccount:${NS}:api`,
        namespace: NS,
        pod: { name: 'api', uid: pod.uid },
        audiences: ['data-store'],
        verifiedBy: 'local',
      });
      await expect(localVerifier(issuer, 'billing').verify(token)).rejects.toMatchObject({ code: 'audience_mismatch' });
    });

    it('TokenReviewVerifier accepts it while the pod exists and refuses it once the pod is deleted; LocalVerifier cannot see that', async () => {
      const token = await mint();
      const issuer = decodeJwt(token).iss as string;
      const review = () =>
        new TokenReviewVerifier({
          client: k3s.kubeConfig,
          audience: 'data-store',
          cacheTtlSeconds: 0,
          negativeCacheTtlSeconds: 0,
        });
      expect(await review().verify(token)).toMatchObject({
        username: `system:serviceaccount:${NS}:api`,
        verifiedBy: 'tokenreview',
      });

      await client.deletePod(NS, pod.name);
      // The API server caches successful reviews for about 10 s.
      const refused = await eventually(
        async () =>
          review()
            .verify(token)
            .then(
              () => false,
              (err: { code?: string }) => err.code === 'tokenreview_rejected',
            ),
        60_000,
      );
      expect(refused).toBe(true);
      expect(await localVerifier(issuer, 'data-store').verify(token)).toMatchObject({ verifiedBy: 'local' });
    });
  },
);
