import { createKubeFetch, StaticTokenSource, type FetchLike } from '@kube-service-auth/verifier';
import { KubeConfig } from '@kubernetes/client-node';
import type { JWK } from 'jose';
import { ClusterClient, type ControlPlane, httpsRequest } from '@kube-service-auth/testing';
import type { ClusterAccess } from './protocol.js';

/** What the benchmark needs from the real control plane. */
export interface Fixture {
  issuer: string;
  /** The data store's credentials (ServiceAccount `data-store/data-store`, bound to system:auth-delegator). */
  access: ClusterAccess;
  /** Fetches with the data store's token and the cluster CA, as a pod would. */
  fetch: FetchLike;
  /** One pod-bound token (audience `data-store`) per caller pod `api/caller-<i>`, minted by TokenRequest. */
  callerTokens: string[];
  /** The API server's JWKS as served at `/openid/v1/jwks`, and the key that signed the tokens. */
  jwks: { keys: JWK[] };
  signingJwk: JWK;
  /** uid of ServiceAccount `api/api`. */
  apiServiceAccountUid: string;
  kubernetesVersion: string;
}

async function inBatches<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return out;
}

/**
 * Namespaces `api` and `data-store`, their ServiceAccounts, `role-tokenreview-binding`, a node, the data store pod and
 * `callers` API pods (never run: no kubelet), and one TokenRequest token per caller pod.
 */
export async function setUpCluster(cp: ControlPlane, callers: number): Promise<Fixture> {
  const admin = new ClusterClient(cp.kubeConfig());
  await admin.createNode('node-1');
  for (const ns of ['api', 'data-store']) await admin.applyNamespace(ns);
  const apiServiceAccountUid = await admin.createServiceAccount('api', 'api');
  await admin.createServiceAccount('data-store', 'data-store');
  await admin.bindAuthDelegator('data-store', 'data-store');
  const storePod = await admin.createPod('data-store', 'app', 'data-store', { nodeName: 'node-1' });
  const reviewerToken = (
    await admin.requestToken({
      namespace: 'data-store',
      serviceAccount: 'data-store',
      expirationSeconds: 7200,
      pod: { name: 'app', uid: storePod },
    })
  ).token;

  const indexes = Array.from({ length: callers }, (_, i) => i);
  const pods = await inBatches(indexes, 10, async (i) => {
    const name = `caller-${i}`;
    return { name, uid: await admin.createPod('api', name, 'api', { nodeName: 'node-1' }) };
  });
  const callerTokens = await inBatches(pods, 10, async (pod) => {
    const minted = await admin.requestToken({
      namespace: 'api',
      serviceAccount: 'api',
      audiences: ['data-store'],
      expirationSeconds: 3600,
      pod,
    });
    return minted.token;
  });

  const access: ClusterAccess = { server: cp.url, caPem: cp.caPem, token: reviewerToken };
  const fetch = createKubeFetch({ caPem: cp.caPem, tokenSource: new StaticTokenSource(reviewerToken) });
  const response = await fetch(`${cp.issuer}/openid/v1/jwks`, {
    headers: { accept: 'application/jwk-set+json' },
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status !== 200) throw new Error(`GET /openid/v1/jwks: HTTP ${response.status}`);
  const jwks = JSON.parse(await response.text()) as { keys: JWK[] };
  const header = JSON.parse(Buffer.from((callerTokens[0] ?? '').split('.')[0] ?? '', 'base64url').toString('utf8')) as {
    alg: string;
    kid: string;
  };
  const signingJwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!signingJwk || header.alg !== 'RS256')
    throw new Error(`the tokens' key (${header.alg}, ${header.kid}) is not an RS256 key of the JWKS`);

  const version = await httpsRequest(`${cp.url}/version`, { ca: cp.caPem, ...cp.adminCredentials, timeoutMs: 5000 });
  const kubernetesVersion = (JSON.parse(version.body) as { gitVersion?: string }).gitVersion ?? 'unknown';

  return { issuer: cp.issuer, access, fetch, callerTokens, jwks, signingJwk, apiServiceAccountUid, kubernetesVersion };
}

/** A kubeconfig with the data store's credentials (its ServiceAccount token and the cluster CA), as a pod has. */
export function reviewerKubeConfig(fixture: Fixture): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'local', server: fixture.access.server, caData: Buffer.from(fixture.access.caPem).toString('base64') },
    ],
    users: [{ name: 'data-store', token: fixture.access.token }],
    contexts: [{ name: 'local', cluster: 'local', user: 'data-store' }],
    currentContext: 'local',
  });
  return kc;
}
