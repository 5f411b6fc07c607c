import { KubeConfig } from '@kubernetes/client-node';
import { K3sContainer, type StartedK3sContainer } from '@testcontainers/k3s';
import { getContainerRuntimeClient, ImageName } from 'testcontainers';
import { REAPER_IMAGE } from 'testcontainers/build/reaper/reaper.js';
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
    return {
      available: true,
      version: `${client.info.containerRuntime.serverVersion} at ${client.info.containerRuntime.host}`,
    };
  } catch (err) {
    return { available: false, reason: NO_CONTAINER_RUNTIME, detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the images a suite needs are in the engine or can be pulled; if not, why. */
export type ImagesStatus = { available: true } | { available: false; reason: string; detail: string };

/** The part of testcontainers' image client {@link ensureImages} uses (a fake in unit tests). */
export interface ImageSource {
  exists(image: ImageName): Promise<boolean>;
  pull(image: ImageName): Promise<void>;
}

/**
 * The images the K3s suite needs: K3s itself (`K3S_IMAGE` overrides it) and testcontainers' Ryuk reaper unless
 * `TESTCONTAINERS_RYUK_DISABLED=true`.
 */
export function k3sImages(env: NodeJS.ProcessEnv = process.env): string[] {
  return [env.K3S_IMAGE ?? DEFAULT_K3S_IMAGE, ...(env.TESTCONTAINERS_RYUK_DISABLED === 'true' ? [] : [REAPER_IMAGE])];
}

/** Whether the suite may pull missing images from their registry: only when asked (`K3S_PULL=1`). */
export function pullAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.K3S_PULL?.trim() === '1';
}

/**
 * Makes sure each image is in the engine. A missing image is pulled only when `pull` is true (`K3S_PULL=1`): by
 * default a test run sends nothing beyond this machine, so a missing image is a reason to skip, named with the
 * switch. An engine without a reachable registry (an air-gapped machine) answers a pull with an error such as
 * `lookup registry-1.docker.io: no such host`: also a missing prerequisite, reported as a reason to skip, not a failure.
 */
export async function ensureImages(
  images: readonly string[],
  options: { source?: ImageSource; timeoutMs?: number; pull?: boolean } = {},
): Promise<ImagesStatus> {
  const source = options.source ?? (await getContainerRuntimeClient()).image;
  const pull = options.pull ?? pullAllowed();
  for (const image of images) {
    const name = ImageName.fromString(image);
    if (await source.exists(name)) continue;
    if (!pull) {
      return {
        available: false,
        reason: `image ${image} is not in the engine`,
        detail: 'K3S_PULL=1 lets the suite pull it from its registry',
      };
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        source.pull(name),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no pull within ${(options.timeoutMs ?? 300_000) / 1000} s`)),
            options.timeoutMs ?? 300_000,
          );
        }),
      ]);
    } catch (err) {
      const detail = (err instanceof Error ? err.message : String(err)).trim().split('\n')[0] ?? '';
      return { available: false, reason: `image ${image} is not in the engine and cannot be pulled`, detail };
    } finally {
      clearTimeout(timer);
    }
  }
  return { available: true };
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
