import { ApiException, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { DemoTarget } from '../cases/target.js';
import { kubectl, type KubeConnection } from './commands.js';
import { runChecked, run, type Runner } from './exec.js';
import { PortForward } from './port-forward.js';
import { waitFor } from './wait.js';

/** Options of {@link KindTarget.start}. */
export interface KindTargetOptions {
  connection: KubeConnection;
  log?: (line: string) => void;
  runner?: Runner;
}

/** The Services the shared cases call, and how to reach each through a port-forward. */
const FORWARDS = {
  api: { namespace: 'api', target: 'svc/api', remotePort: 80 },
  'api-v1': { namespace: 'api', target: 'svc/api-v1', remotePort: 80 },
  app: { namespace: 'data-store', target: 'svc/app', remotePort: 80 },
  'app-tokenreview': { namespace: 'data-store', target: 'svc/app-tokenreview', remotePort: 80 },
  'app-v1': { namespace: 'data-store', target: 'svc/app-v1', remotePort: 80 },
  'app-watch': { namespace: 'data-store', target: 'svc/app-watch', remotePort: 80 },
  intruder: { namespace: 'api', target: 'deploy/intruder', remotePort: 8080 },
} as const;
type ForwardName = keyof typeof FORWARDS;

const API_TOKEN_PATH = '/var/run/secrets/tokens/api-token';

/** A pod that is running and not being deleted. */
const live = (pod: V1Pod) => pod.status?.phase === 'Running' && !pod.metadata?.deletionTimestamp;

/** Reads the `aud` claim of a JWT without verifying it. */
function audiencesOf(token: string): string[] {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    aud?: string | string[];
  };
  return [payload.aud ?? []].flat();
}

/**
 * The demo deployed on a kind cluster from `deploy/manifests`, for the shared end-to-end cases: Services are reached
 * through `kubectl port-forward` on 127.0.0.1, tokens are minted with the TokenRequest API, and the variant-2 API
 * pod's token is read from its projected volume with `kubectl exec`.
 */
export class KindTarget implements DemoTarget {
  readonly name = 'kind';
  readonly core: CoreV1Api;
  readonly #forwards = new Map<ForwardName, PortForward>();
  #intruderPod = '';
  #apiServerAudience = '';

  private constructor(
    readonly connection: KubeConnection,
    readonly kubeConfig: KubeConfig,
    private readonly runner: Runner,
    private readonly log: (line: string) => void,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  static async start(options: KindTargetOptions): Promise<KindTarget> {
    const kc = new KubeConfig();
    kc.loadFromFile(options.connection.kubeconfig);
    kc.setCurrentContext(options.connection.context);
    const target = new KindTarget(options.connection, kc, options.runner ?? run, options.log ?? (() => {}));
    try {
      await target.#setUp();
    } catch (err) {
      target.stop();
      throw err;
    }
    return target;
  }

  get intruderPod(): string {
    return this.#intruderPod;
  }

  get apiServerAudience(): string {
    return this.#apiServerAudience;
  }

  get apiUrls() {
    return { variant1: this.#url('api-v1'), variant2: this.#url('api') };
  }

  get storeUrls() {
    return {
      local: this.#url('app'),
      tokenreview: this.#url('app-tokenreview'),
      variant1: this.#url('app-v1'),
      watch: this.#url('app-watch'),
    };
  }

  /** The intruder workload's own API (it calls the data store with its projected `data-store` token). */
  get intruderUrl(): string {
    return this.#url('intruder');
  }

  async requestToken(params: Parameters<DemoTarget['requestToken']>[0]): Promise<string> {
    const uid = params.boundPod
      ? (await this.core.readNamespacedPod({ namespace: params.namespace, name: params.boundPod })).metadata?.uid
      : undefined;
    const result = await this.core.createNamespacedServiceAccountToken({
      namespace: params.namespace,
      name: params.serviceAccount,
      body: {
        spec: {
          audiences: params.audiences,
          expirationSeconds: params.expirationSeconds,
          boundObjectRef: params.boundPod ? { apiVersion: 'v1', kind: 'Pod', name: params.boundPod, uid } : undefined,
        },
      },
    });
    const token = result.status?.token;
    if (!token) throw new Error(`TokenRequest for ${params.namespace}/${params.serviceAccount} returned no token`);
    return token;
  }

  async currentApiToken(): Promise<string> {
    const pod = await this.livePod('api', 'app=api');
    const result = await runChecked(
      this.runner,
      'kubectl',
      kubectl.exec(this.connection, { namespace: 'api', pod, container: 'api', command: ['cat', API_TOKEN_PATH] }),
      { timeoutMs: 30_000 },
    );
    return result.stdout.trim();
  }

  /**
   * Deletes the variant-2 API pod at once (grace period 0); its ReplicaSet creates a replacement with a new name, uid
   * and token. The port-forward moves to the replacement once it runs.
   */
  async deleteApiPod(): Promise<void> {
    const name = await this.livePod('api', 'app=api');
    await this.core.deleteNamespacedPod({ namespace: 'api', name, gracePeriodSeconds: 0 });
    await waitFor(`pod api/${name} to be gone`, {
      poll: async () => {
        try {
          await this.core.readNamespacedPod({ namespace: 'api', name });
          return false;
        } catch (err) {
          if (err instanceof ApiException && err.code === 404) return true;
          throw err;
        }
      },
      done: (gone) => gone,
      describe: () => 'still present',
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    this.log(`deleted pod api/${name}`);
    void this.#forwards
      .get('api')
      ?.restart()
      .catch((err: unknown) => this.log(`port-forward api: ${String(err)}`));
  }

  /** Name of a running, not terminating pod matching `selector`, waiting up to a minute for one. */
  async livePod(namespace: string, selector: string): Promise<string> {
    const pod = await waitFor(`a running pod ${selector} in ${namespace}`, {
      poll: async () => (await this.core.listNamespacedPod({ namespace, labelSelector: selector })).items.find(live),
      done: (found) => found !== undefined,
      describe: () => 'none running yet',
      timeoutMs: 60_000,
      intervalMs: 1000,
    });
    return pod?.metadata?.name as string;
  }

  /** Logs of every container matching `selector` (`kubectl logs --prefix`). */
  async logs(namespace: string, selector: string): Promise<string> {
    return (
      await runChecked(this.runner, 'kubectl', kubectl.logs(this.connection, { namespace, selector }), {
        timeoutMs: 30_000,
      })
    ).stdout;
  }

  stop(): void {
    for (const forward of this.#forwards.values()) forward.stop();
    this.#forwards.clear();
  }

  #url(name: ForwardName): string {
    const forward = this.#forwards.get(name);
    if (!forward) throw new Error(`no port-forward for ${name}`);
    return forward.url;
  }

  async #setUp(): Promise<void> {
    for (const [name, spec] of Object.entries(FORWARDS) as Array<[ForwardName, (typeof FORWARDS)[ForwardName]]>) {
      this.#forwards.set(name, await PortForward.start({ connection: this.connection, ...spec, log: this.log }));
    }
    // Every service answers its liveness endpoint through its forward before a case runs.
    for (const name of this.#forwards.keys()) {
      await waitFor(`${name} /healthz through its port-forward`, {
        poll: async () => (await fetch(`${this.#url(name)}healthz`, { signal: AbortSignal.timeout(5000) })).status,
        done: (status) => status === 200,
        describe: (status) => `HTTP ${status}`,
        timeoutMs: 60_000,
        intervalMs: 1000,
      });
    }
    this.#intruderPod = await this.livePod('api', 'app=intruder');
    // What default ServiceAccount tokens are minted for: a TokenRequest without audiences gets the API server's own.
    const probe = await this.requestToken({ namespace: 'api', serviceAccount: 'intruder', audiences: [] });
    this.#apiServerAudience = audiencesOf(probe)[0] ?? 'https://kubernetes.default.svc.cluster.local';
  }
}
