import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterClient, ProjectedToken, inClusterKubeconfig, type ControlPlane } from '@kube-service-auth/testing';
import type { DemoTarget } from '../cases/target.js';
import { ServiceProcess } from './service-process.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const API_MAIN = join(ROOT, 'packages/demo-api/dist/main.js');
const STORE_MAIN = join(ROOT, 'packages/demo-store/dist/main.js');
const NODE = 'node-1';

/** Options of {@link LocalDeployment.start}. */
export interface LocalDeploymentOptions {
  /** Receives every output line of every service, prefixed by the caller as it likes. */
  onLine?: (service: string, line: string) => void;
}

/** One simulated pod: a Pod object, its ServiceAccount token volume, and the process that plays its container. */
interface SimulatedPod {
  name: string;
  uid: string;
  token: ProjectedToken;
}

/**
 * The article's system on the embedded control plane. The harness does what the kubelet would: it creates Pod objects
 * bound to a Node, mints pod-bound tokens through the TokenRequest API, writes them in the projected-volume layout and
 * rotates them; the containers are real Node processes on loopback.
 *
 * - namespace `api`: ServiceAccounts `api` and `intruder`; pods `api` (variant 2: projected token for `data-store`)
 *   and `api-v1` (variant 1: the default token, for the API server's audience), and pod `intruder`;
 * - namespace `data-store`: ServiceAccount `data-store` bound to `system:auth-delegator` (`role-tokenreview-binding`);
 *   pods `app` (local mode), `app-tokenreview` (TokenReview mode), `app-v1` (variant 1, TokenReview mode) and
 *   `app-watch` (local mode with `K8S_AUTH_REVOCATION=watch`; a Role lets it list and watch pods and ServiceAccounts
 *   in `api`, as deploy/manifests/12-rbac-revocation.yaml does).
 */
export class LocalDeployment implements DemoTarget {
  readonly name = 'local control plane';
  readonly intruderPod = 'intruder';
  readonly client: ClusterClient;
  readonly services = new Map<string, ServiceProcess>();
  private readonly pods = new Map<string, SimulatedPod>();
  private apiPodGeneration = 0;

  private constructor(
    readonly controlPlane: ControlPlane,
    readonly dir: string,
    private readonly options: LocalDeploymentOptions,
  ) {
    this.client = new ClusterClient(controlPlane.kubeConfig());
  }

  /** Creates the objects, mints the tokens and starts the five services. */
  static async start(controlPlane: ControlPlane, options: LocalDeploymentOptions = {}): Promise<LocalDeployment> {
    const deployment = new LocalDeployment(controlPlane, join(controlPlane.dir, 'pods'), options);
    try {
      await deployment.setUp();
    } catch (err) {
      await deployment.stop();
      throw err;
    }
    return deployment;
  }

  get apiServerAudience(): string {
    return this.controlPlane.apiAudiences[0] ?? this.controlPlane.issuer;
  }

  get apiUrls() {
    return { variant1: this.service('api-v1').url, variant2: this.service('api').url };
  }

  get storeUrls() {
    return {
      local: this.service('app').url,
      tokenreview: this.service('app-tokenreview').url,
      variant1: this.service('app-v1').url,
      watch: this.service('app-watch').url,
    };
  }

  /** The current variant-2 API pod (it changes when the pod is deleted and replaced). */
  get apiPod(): { name: string; uid: string } {
    const pod = this.pods.get('api');
    if (!pod) throw new Error('no api pod');
    return { name: pod.name, uid: pod.uid };
  }

  async requestToken(params: Parameters<DemoTarget['requestToken']>[0]): Promise<string> {
    const pod = params.boundPod
      ? {
          name: params.boundPod,
          uid: (await this.client.core.readNamespacedPod({ namespace: params.namespace, name: params.boundPod }))
            .metadata?.uid as string,
        }
      : undefined;
    const { token } = await this.client.requestToken({ ...params, pod });
    return token;
  }

  async currentApiToken(): Promise<string> {
    return this.pod('api').token.token;
  }

  /**
   * Deletes the variant-2 API pod with grace period 0 and, like a ReplicaSet, creates a replacement with a new name
   * and uid whose token the API process then reads. The old token is left valid until it expires.
   */
  async deleteApiPod(): Promise<void> {
    const old = this.pod('api');
    old.token.stop();
    await this.client.deletePod('api', old.name);
    const name = `api-${++this.apiPodGeneration}`;
    const uid = await this.client.createPod('api', name, 'api', { nodeName: NODE });
    // Same volume directory: the replacement's kubelet writes the new token where the API process reads it.
    const token = this.projectedToken(old.token.dir, 'api-token', 'api', 'api', { name, uid }, ['data-store']);
    await token.start();
    this.pods.set('api', { name, uid, token });
  }

  /** Stops the services and the token rotation. The control plane is the caller's to stop. */
  async stop(): Promise<void> {
    for (const pod of this.pods.values()) pod.token.stop();
    await Promise.all([...this.services.values()].map((s) => s.stop()));
  }

  private async setUp(): Promise<void> {
    const c = this.client;
    await c.createNode(NODE);
    for (const ns of ['api', 'data-store']) await c.applyNamespace(ns);
    await c.createServiceAccount('api', 'api');
    await c.createServiceAccount('api', 'intruder');
    await c.createServiceAccount('data-store', 'data-store');
    await c.bindAuthDelegator('data-store', 'data-store', 'role-tokenreview-binding');
    await c.createPod('api', this.intruderPod, 'intruder', { nodeName: NODE });
    await c.applyManifest(readFileSync(join(ROOT, 'deploy/manifests/12-rbac-revocation.yaml'), 'utf8'));

    const storeEnv = (mode: 'local' | 'tokenreview', audience: string) => ({
      K8S_AUTH_MODE: mode,
      K8S_AUTH_AUDIENCE: audience,
      K8S_AUTH_ISSUER: this.controlPlane.issuer,
      K8S_AUTH_ALLOWED_IDENTITIES: 'system:serviceaccount:api:api',
      K8S_AUTH_HEADER: 'x-client-id',
      K8S_AUTH_REQUIRE_POD_BINDING: 'true',
    });
    await this.startStore('app', storeEnv('local', 'data-store'));
    await this.startStore('app-tokenreview', storeEnv('tokenreview', 'data-store'));
    await this.startStore('app-v1', storeEnv('tokenreview', this.apiServerAudience));
    await this.startStore('app-watch', { ...storeEnv('local', 'data-store'), K8S_AUTH_REVOCATION: 'watch' });

    await this.startApi('api', 'tokens', 'api-token', ['data-store'], this.service('app').url);
    await this.startApi('api-v1', 'serviceaccount', 'token', [], this.service('app-v1').url);
  }

  /** A data-store pod: its own token and CA (as mounted in a pod) and an in-cluster-like kubeconfig. */
  private async startStore(name: string, env: Record<string, string>): Promise<void> {
    const dir = join(this.dir, 'data-store', name, 'serviceaccount');
    const token = await this.createPod('data-store', name, 'data-store', dir, 'token', []);
    await writeFile(join(dir, 'ca.crt'), this.controlPlane.caPem);
    const kubeconfig = join(this.dir, 'data-store', name, 'kubeconfig');
    await writeFile(kubeconfig, inClusterKubeconfig(this.controlPlane.url, join(dir, 'ca.crt'), token.path));
    await this.startService(name, STORE_MAIN, {
      ...env,
      K8S_AUTH_CA_FILE: join(dir, 'ca.crt'),
      K8S_AUTH_TOKEN_FILE: token.path,
      K8S_AUTH_KUBECONFIG: kubeconfig,
    });
  }

  private async startApi(
    name: string,
    volume: string,
    file: string,
    audiences: string[],
    storeUrl: string,
  ): Promise<void> {
    const token = await this.createPod('api', name, 'api', join(this.dir, 'api', name, volume), file, audiences);
    await this.startService(name, API_MAIN, { TOKEN_FILE: token.path, DATA_STORE_CONNSTRING: storeUrl });
  }

  private async createPod(
    namespace: string,
    name: string,
    serviceAccount: string,
    dir: string,
    file: string,
    audiences: string[],
  ): Promise<ProjectedToken> {
    const uid = await this.client.createPod(namespace, name, serviceAccount, { nodeName: NODE });
    const token = this.projectedToken(dir, file, namespace, serviceAccount, { name, uid }, audiences);
    await token.start();
    this.pods.set(name, { name, uid, token });
    return token;
  }

  private projectedToken(
    dir: string,
    file: string,
    namespace: string,
    serviceAccount: string,
    pod: { name: string; uid: string },
    audiences: string[],
  ): ProjectedToken {
    return new ProjectedToken(
      dir,
      file,
      () => this.client.requestToken({ namespace, serviceAccount, audiences, expirationSeconds: 600, pod }),
      (err) => this.options.onLine?.('kubelet', `token rotation for ${namespace}/${pod.name} failed: ${String(err)}`),
    );
  }

  private async startService(name: string, script: string, env: Record<string, string>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const service = await ServiceProcess.start({ name, script, env, onLine: this.options.onLine });
    this.services.set(name, service);
  }

  private service(name: string): ServiceProcess {
    const service = this.services.get(name);
    if (!service) throw new Error(`service ${name} is not running`);
    return service;
  }

  private pod(name: string): SimulatedPod {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`pod ${name} does not exist`);
    return pod;
  }
}
