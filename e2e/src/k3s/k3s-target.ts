import { KubeConfig } from '@kubernetes/client-node';
import { K3sContainer, type StartedK3sContainer } from '@testcontainers/k3s';
import { getContainerRuntimeClient } from 'testcontainers';
import { NO_CONTAINER_RUNTIME, type RuntimeStatus } from '../kind/tools.js';

/** K3s ≥ 1.30: pod scheduling gates are GA, which the tests use to keep a pod pending without pulling any image. */
export const DEFAULT_K3S_IMAGE = 'rancher/k3s:v1.31.2-k3s1';

/**
 * Whether testcontainers finds a working container runtime (its own strategies: DOCKER_HOST, the testcontainers
 * properties, the Docker and rootless sockets). Bounded in time: with no runtime the strategies fail within a second,
 * but a hung engine must not hang the test run.
 */
export async function detectTestcontainersRuntime(timeoutMs = 15_000): Promise<RuntimeStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const client = await Promise.race([getContainerRuntimeClient(), timeout]);
    return { available: true, version: `${client.info.containerRuntime.serverVersion} at ${client.info.containerRuntime.host}` };
  } catch (err) {
    return { available: false, reason: NO_CONTAINER_RUNTIME, detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** A running K3s server in a container, with an admin kubeconfig that reaches it on a mapped loopback port. */
export interface K3sCluster {
  container: StartedK3sContainer;
  /** Admin kubeconfig (YAML), server `https://<docker host>:<mapped 6443>`. */
  kubeconfigYaml: string;
  kubeConfig: KubeConfig;
  /** The API server URL of the kubeconfig. */
  server: string;
  /** PEM of the cluster CA (K3s's server CA). */
  caPem: string;
  stop(): Promise<void>;
}

/**
 * Starts K3s (privileged container, as K3s needs) and returns its kubeconfig, so that the verifier's integration tests
 * can run against a real kubelet-backed cluster. `K3S_IMAGE` overrides the image.
 */
export async function startK3s(image = process.env.K3S_IMAGE ?? DEFAULT_K3S_IMAGE): Promise<K3sCluster> {
  const container = await new K3sContainer(image).start();
  try {
    const kubeconfigYaml = container.getKubeConfig();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(kubeconfigYaml);
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster?.caData) throw new Error('the K3s kubeconfig has no certificate-authority-data');
    return {
      container,
      kubeconfigYaml,
      kubeConfig,
      server: cluster.server,
      caPem: Buffer.from(cluster.caData, 'base64').toString('utf8'),
      stop: async () => {
        await container.stop();
      },
    };
  } catch (err) {
    await container.stop();
    throw err;
  }
}
