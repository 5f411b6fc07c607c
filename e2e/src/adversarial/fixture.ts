import { constants, createHmac, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, type V1TokenReview } from '@kubernetes/client-node';
import {
  createKubeFetch,
  LocalVerifier,
  StaticTokenSource,
  tokenReviewClient,
  TokenReviewVerifier,
  type FetchLike,
  type LocalVerifierOptions,
  type TokenReviewClient,
  type TokenReviewRequestOptions,
  type TokenReviewVerifierOptions,
  type VerifierEvent,
} from '@kube-service-auth/verifier';
import type { JWK } from 'jose';
import {
  ClusterClient,
  ControlPlane,
  type ControlPlaneOptions,
  httpsRequest,
  inClusterKubeconfig,
  serviceAccountClaims,
} from '@kube-service-auth/testing';
import { ServiceProcess } from '../local/service-process.js';

export const AUDIENCE = 'data-store';
export const ALLOWED = 'system:serviceaccount:api:api';
export const NODE = 'node-1';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const STORE_MAIN = join(ROOT, 'packages/demo-store/dist/main.js');

export interface ObjectRef {
  name: string;
  uid: string;
}

export const b64 = (data: string | Buffer): string => Buffer.from(data).toString('base64url');
const b64ToStd = (data: string): string => Buffer.from(data).toString('base64');

export { payloadOf } from '../support/jwt.js';
export { pollUntil } from '../support/poll.js';
export { movableClock } from '../support/clock.js';

export type SignAlg = 'RS256' | 'RS384' | 'PS256' | 'ES256' | 'HS256' | 'none';

/**
 * Signs a compact JWS with full control over the bytes: the header and payload are JSON-encoded objects or raw text
 * (duplicate members, non-objects, invalid UTF-8), and the key may be the cluster's real private key, an attacker's
 * key, or an HMAC secret.
 */
export function signCompact(
  header: object | string | Buffer,
  payload: object | string | Buffer,
  alg: SignAlg,
  key?: KeyObject | Buffer | string,
): string {
  const encode = (part: object | string | Buffer) =>
    b64(Buffer.isBuffer(part) || typeof part === 'string' ? part : JSON.stringify(part));
  const input = `${encode(header)}.${encode(payload)}`;
  const data = Buffer.from(input);
  let signature: Buffer;
  switch (alg) {
    case 'none':
      signature = Buffer.alloc(0);
      break;
    case 'HS256':
      signature = createHmac('sha256', key as Buffer | string)
        .update(data)
        .digest();
      break;
    case 'RS256':
      signature = sign('sha256', data, key as KeyObject);
      break;
    case 'RS384':
      signature = sign('sha384', data, key as KeyObject);
      break;
    case 'PS256':
      signature = sign('sha256', data, {
        key: key as KeyObject,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      });
      break;
    case 'ES256':
      signature = sign('sha256', data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
      break;
  }
  return `${input}.${b64(signature)}`;
}

/** Keys an attacker controls: never trusted by the cluster. */
export const attacker = {
  rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
};

/** A counting {@link TokenReviewClient} around the real one. */
export interface CountingReviewClient extends TokenReviewClient {
  readonly count: number;
}

export function countingReviewClient(inner: TokenReviewClient): CountingReviewClient {
  let count = 0;
  return {
    get count() {
      return count;
    },
    createTokenReview(review: V1TokenReview, options?: TokenReviewRequestOptions) {
      count++;
      return inner.createTokenReview(review, options);
    },
  };
}

/** A {@link FetchLike} that records every URL it is asked for. */
export interface CountingFetch {
  fetch: FetchLike;
  urls: string[];
}

/** A data store started as a real process on the control plane. */
export interface Store {
  name: string;
  process: ServiceProcess;
  url: string;
}

/**
 * The cluster every adversarial file works against: the real kube-apiserver + etcd, with the article's objects.
 *
 * - namespace `api`: ServiceAccounts `api` (the allowed caller) and `intruder`, pods `api` and `intruder` on `node-1`;
 * - namespace `data-store`: ServiceAccount `data-store` bound to `system:auth-delegator`, and `no-delegator` without it;
 *   pod `reviewer`, whose pod-bound token the in-process verifiers use to fetch the JWKS and to create TokenReviews.
 */
export class Cluster {
  readonly stores: Store[] = [];
  readonly pods = new Map<string, ObjectRef>();
  private storeCount = 0;

  private constructor(
    readonly cp: ControlPlane,
    readonly admin: ClusterClient,
    readonly node: ObjectRef,
    readonly reviewerToken: string,
    readonly dir: string,
  ) {}

  static async start(options: ControlPlaneOptions = {}): Promise<Cluster> {
    // Every ServiceProcess (one per data store; a file starts up to a dozen) adds a process 'exit' listener.
    process.setMaxListeners(Math.max(process.getMaxListeners(), 50));
    const cp = await ControlPlane.start(options);
    try {
      const admin = new ClusterClient(cp.kubeConfig());
      const nodeUid = await admin.createNode(NODE);
      for (const ns of ['api', 'data-store']) await admin.applyNamespace(ns);
      await admin.createServiceAccount('api', 'api');
      await admin.createServiceAccount('api', 'intruder');
      await admin.createServiceAccount('data-store', 'data-store');
      await admin.createServiceAccount('data-store', 'no-delegator');
      await admin.bindAuthDelegator('data-store', 'data-store');
      const reviewerPod = await admin.createPod('data-store', 'reviewer', 'data-store', { nodeName: NODE });
      const reviewerToken = (
        await admin.requestToken({
          namespace: 'data-store',
          serviceAccount: 'data-store',
          expirationSeconds: 3600,
          pod: { name: 'reviewer', uid: reviewerPod },
        })
      ).token;
      const cluster = new Cluster(cp, admin, { name: NODE, uid: nodeUid }, reviewerToken, join(cp.dir, 'adversarial'));
      await cluster.createPod('api', 'api', 'api');
      await cluster.createPod('api', 'intruder', 'intruder');
      return cluster;
    } catch (err) {
      await cp.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.stores.map((s) => s.process.stop()));
    await this.cp.stop();
  }

  get issuer(): string {
    return this.cp.issuer;
  }

  pod(name: string): ObjectRef {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`no pod ${name}`);
    return pod;
  }

  /** Creates a pod on node-1 (it never runs) and remembers its uid. */
  async createPod(namespace: string, name: string, serviceAccount: string): Promise<ObjectRef> {
    const uid = await this.admin.createPod(namespace, name, serviceAccount, { nodeName: NODE });
    const pod = { name, uid };
    this.pods.set(name, pod);
    return pod;
  }

  /** A real token from the TokenRequest API; by default the allowed caller's, bound to pod `api`, for the data store. */
  async token(
    params: {
      namespace?: string;
      serviceAccount?: string;
      pod?: ObjectRef | null;
      audiences?: string[];
      expirationSeconds?: number;
    } = {},
  ): Promise<string> {
    const { token } = await this.admin.requestToken({
      namespace: params.namespace ?? 'api',
      serviceAccount: params.serviceAccount ?? 'api',
      audiences: params.audiences ?? [AUDIENCE],
      expirationSeconds: params.expirationSeconds ?? 600,
      pod: params.pod === null ? undefined : (params.pod ?? this.pod('api')),
    });
    return token;
  }

  /** The cluster's real signing key (what the API server signs with). */
  async signingKey(): Promise<{ key: KeyObject; kid: string; alg: string }> {
    const key = this.cp.signingKey;
    return { key: createPrivateKey(await readFile(key.privateKeyFile, 'utf8')), kid: key.keyId, alg: key.algorithm };
  }

  /**
   * The claims the API server puts in a projected token for pod `api` of ServiceAccount `api:api`, for the data store;
   * `overrides` replace or (with `undefined`) delete top-level claims. Times are whole seconds from now.
   */
  async claims(
    overrides: Record<string, unknown> = {},
    params: { serviceAccount?: string; pod?: ObjectRef } = {},
  ): Promise<Record<string, unknown>> {
    const name = params.serviceAccount ?? 'api';
    const sa = await this.admin.core.readNamespacedServiceAccount({ namespace: 'api', name });
    const pod = params.pod ?? this.pod('api');
    const claims = serviceAccountClaims({
      issuer: this.issuer,
      namespace: 'api',
      serviceAccount: { name, uid: sa.metadata?.uid },
      audiences: [AUDIENCE],
      pod,
      node: this.node,
    });
    for (const [k, v] of Object.entries(overrides)) {
      if (v === undefined) delete claims[k];
      else claims[k] = v;
    }
    return claims;
  }

  /** Signs `payload` with the cluster's real key, with the API server's header plus `header` overrides. */
  async signWithClusterKey(
    payload: object | string,
    header: Record<string, unknown> = {},
    alg: SignAlg = 'RS256',
  ): Promise<string> {
    const { key, kid } = await this.signingKey();
    return signCompact({ alg, kid, ...header }, payload, alg, key);
  }

  /** The JWK Set the API server publishes (read with the admin credentials). */
  async jwks(): Promise<{ keys: JWK[] }> {
    const res = await httpsRequest(`${this.cp.url}/openid/v1/jwks`, { ca: this.cp.caPem, ...this.cp.adminCredentials });
    if (res.status !== 200) throw new Error(`JWKS: HTTP ${res.status}`);
    return JSON.parse(res.body) as { keys: JWK[] };
  }

  /** What a data-store pod uses to fetch discovery and JWKS: its own token and the cluster CA; records every URL. */
  kubeFetch(token = this.reviewerToken): CountingFetch {
    const inner = createKubeFetch({ caPem: this.cp.caPem, tokenSource: new StaticTokenSource(token) });
    const urls: string[] = [];
    return {
      urls,
      fetch: (url, init) => {
        urls.push(url);
        return inner(url, init);
      },
    };
  }

  /**
   * A LocalVerifier configured as the data store is (issuer of the real control plane, JWKS fetched with a
   * ServiceAccount token and the CA, pod binding required), that counts its key-set fetches.
   */
  localVerifier(options: Partial<LocalVerifierOptions> = {}): {
    verifier: LocalVerifier;
    events: VerifierEvent[];
    fetches: () => number;
    net: CountingFetch;
  } {
    const events: VerifierEvent[] = [];
    const net = this.kubeFetch();
    const verifier = new LocalVerifier({
      issuers: [this.issuer],
      audience: AUDIENCE,
      fetch: net.fetch,
      requirePodBinding: true,
      ...options,
      onEvent: (e) => {
        events.push(e);
        options.onEvent?.(e);
      },
    });
    return { verifier, events, fetches: () => events.filter((e) => e.type === 'jwks_fetch').length, net };
  }

  /**
   * A TokenReview client as the data store has it (its own token, bound to system:auth-delegator), counting reviews.
   * `server` replaces the API server's address (e.g. a {@link SlowProxy}).
   */
  reviewClient(token = this.reviewerToken, server = this.cp.url): CountingReviewClient {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'local', server, caData: b64ToStd(this.cp.caPem), skipTLSVerify: false }],
      users: [{ name: 'pod', token }],
      contexts: [{ name: 'pod', cluster: 'local', user: 'pod' }],
      currentContext: 'pod',
    });
    return countingReviewClient(tokenReviewClient(kc));
  }

  tokenReviewVerifier(
    client: TokenReviewClient,
    options: Partial<TokenReviewVerifierOptions> = {},
  ): TokenReviewVerifier {
    return new TokenReviewVerifier({ client, audience: AUDIENCE, requirePodBinding: true, ...options });
  }

  /**
   * Prepares a data-store pod (Pod object, its pod-bound token, CA and an in-cluster-like kubeconfig, as mounted in a
   * pod) while the API server is up; `start()` then runs `packages/demo-store/dist/main.js` as a real process, which
   * may happen during an outage.
   */
  async prepareStore(options: {
    mode: 'local' | 'tokenreview';
    serviceAccount?: string;
    server?: string;
    env?: Record<string, string>;
  }): Promise<{ start: () => Promise<Store> }> {
    const name = `store-${++this.storeCount}`;
    const serviceAccount = options.serviceAccount ?? 'data-store';
    const pod = await this.createPod('data-store', name, serviceAccount);
    const { token } = await this.admin.requestToken({
      namespace: 'data-store',
      serviceAccount,
      expirationSeconds: 3600,
      pod,
    });
    const dir = join(this.dir, name);
    await mkdir(dir, { recursive: true });
    const tokenFile = join(dir, 'token');
    const caFile = join(dir, 'ca.crt');
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(tokenFile, token, { mode: 0o600 });
    await writeFile(caFile, this.cp.caPem);
    await writeFile(kubeconfig, inClusterKubeconfig(options.server ?? this.cp.url, caFile, tokenFile));
    const env = {
      K8S_AUTH_MODE: options.mode,
      K8S_AUTH_AUDIENCE: AUDIENCE,
      K8S_AUTH_ISSUER: this.issuer,
      K8S_AUTH_ALLOWED_IDENTITIES: ALLOWED,
      K8S_AUTH_HEADER: 'x-client-id',
      K8S_AUTH_REQUIRE_POD_BINDING: 'true',
      K8S_AUTH_CA_FILE: caFile,
      K8S_AUTH_TOKEN_FILE: tokenFile,
      K8S_AUTH_KUBECONFIG: kubeconfig,
      ...options.env,
    };
    return {
      start: async () => {
        const process = await ServiceProcess.start({ name, script: STORE_MAIN, env });
        const store = { name, process, url: process.url };
        this.stores.push(store);
        return store;
      },
    };
  }

  async startStore(options: Parameters<Cluster['prepareStore']>[0]): Promise<Store> {
    return (await this.prepareStore(options)).start();
  }
}
