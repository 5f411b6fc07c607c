/**
 * Talking to the API server: `@kubernetes/client-node` loaded only when needed (here), the TokenReview and
 * SubjectAccessReview clients (`review-clients.ts`), an HTTP client that trusts the cluster CA and sends a rotating
 * token (`http.ts`, for discovery and JWKS), and a metadata-only list/watch client (`metadata-client.ts`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as ClientNode from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeConfigLoadError } from '../errors.js';

// @kubernetes/client-node costs about 1.4 s and 70 MiB to import (its generated API and its dependencies). A service
// in local mode never talks to the API server, so the library loads it here, on first use, and nowhere else: every
// other module imports its types only.
let loading: Promise<typeof ClientNode> | undefined;

/** `@kubernetes/client-node`, imported once, when something first needs the API server. */
export function loadClientNode(): Promise<typeof ClientNode> {
  return (loading ??= import('@kubernetes/client-node'));
}

/** True for a client-node `KubeConfig` (of any copy of the package: no `instanceof`, which would need it loaded). */
export function isKubeConfig(value: unknown): value is KubeConfig {
  const kc = value as Partial<KubeConfig> | null | undefined;
  return typeof kc?.makeApiClient === 'function' && typeof kc.getCurrentCluster === 'function';
}

/** The HTTP status of a client-node `ApiException` (it carries `code`, `body` and `headers`); undefined otherwise. */
export function apiExceptionStatus(cause: unknown): number | undefined {
  if (!(cause instanceof Error) || !('body' in cause) || !('headers' in cause)) return undefined;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** Where client-node's `loadFromDefault()` would find a cluster, worked out without loading it. */
type KubeConfigSource = { variable: string; description: string };

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The source `KubeConfig.loadFromDefault()` would read ($KUBECONFIG, ~/.kube/config, in-cluster credentials), in its
 * order, or undefined when it would find none and fall back to http://localhost:8080. Lets a service with no API
 * server configured skip loading client-node altogether.
 */
export function defaultKubeConfigSource(
  env: Record<string, string | undefined> = process.env,
): KubeConfigSource | undefined {
  if (env.KUBECONFIG)
    return { variable: 'KUBECONFIG', description: `the kubeconfig in $KUBECONFIG (${env.KUBECONFIG})` };
  // client-node's findHomeDir: $HOME (and on Windows %USERPROFILE%), never the passwd entry.
  const home = env.HOME ?? (process.platform === 'win32' ? env.USERPROFILE : undefined);
  const file = home ? join(home, '.kube', 'config') : undefined;
  if (file && existsSync(file)) return { variable: 'K8S_AUTH_KUBECONFIG', description: `the kubeconfig ${file}` };
  if (existsSync(IN_CLUSTER_TOKEN))
    return { variable: 'K8S_AUTH_KUBECONFIG', description: 'the in-cluster credentials' };
  return undefined;
}

/**
 * The kubeconfig for the API server: the given file, else what `KubeConfig.loadFromDefault()` finds. Undefined when
 * there is none (client-node would then silently point at http://localhost:8080), or when `path` is `none`; in both
 * cases client-node is not loaded. A file that cannot be read or parsed, or has no current cluster, throws
 * {@link KubeConfigLoadError}.
 */
export async function loadKubeConfig(path: string | undefined): Promise<KubeConfig | undefined> {
  if (path === 'none') return undefined;
  const source = path
    ? { variable: 'K8S_AUTH_KUBECONFIG', description: `the kubeconfig ${path}` }
    : defaultKubeConfigSource();
  if (!source) return undefined;
  const { KubeConfig } = await loadClientNode();
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new KubeConfigLoadError(source.variable, `cannot load ${source.description}: ${(err as Error).message}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new KubeConfigLoadError(
      source.variable,
      `${source.description} has no current cluster (set current-context)`,
    );
  if (!path && cluster.name === 'cluster' && cluster.server === 'http://localhost:8080') return undefined;
  return kc;
}
