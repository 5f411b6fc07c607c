import { KubeConfig } from '@kubernetes/client-node';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProjectedToken } from './projected-token.js';

/**
 * A kubeconfig shaped like in-cluster configuration: the cluster CA and a token file that `@kubernetes/client-node`
 * re-reads (its `tokenFile` auth provider), so that a service's own rotating token keeps working for its API calls
 * (TokenReview, SubjectAccessReview, watches).
 */
export function inClusterKubeconfig(server: string, caFile: string, tokenFile: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: 'pod', user: { 'auth-provider': { name: 'tokenFile', config: { tokenFile } } } }],
    contexts: [{ name: 'pod', context: { cluster: 'local', user: 'pod' } }],
    'current-context': 'pod',
  });
}

/**
 * What a pod finds under `/var/run/secrets/kubernetes.io/serviceaccount` (here in a temp dir), plus a kubeconfig and
 * the environment variables that point at it: what the service under test needs to talk to the API server as its
 * own ServiceAccount.
 */
export interface InClusterCredentials {
  /** The directory holding `token` (kept fresh, like the kubelet does), `ca.crt` and `namespace`. */
  readonly dir: string;
  readonly tokenFile: string;
  readonly caFile: string;
  readonly namespaceFile: string;
  /** A kubeconfig file for the ServiceAccount, re-reading {@link tokenFile} (see {@link inClusterKubeconfig}). */
  readonly kubeconfigFile: string;
  /** The rotating token volume behind {@link tokenFile}. */
  readonly token: ProjectedToken;
  /**
   * The variables a pod sees, plus the verifier's: `KUBERNETES_SERVICE_HOST`/`_PORT`, `K8S_AUTH_ISSUER`,
   * `K8S_AUTH_CA_FILE`, `K8S_AUTH_TOKEN_FILE` and `K8S_AUTH_KUBECONFIG`. Merge into a child process's environment.
   */
  readonly env: Record<string, string>;
  /** A `KubeConfig` for in-process use, equal to the kubeconfig file. */
  kubeConfig(): KubeConfig;
  /** Stops the token rotation (the files stay until the kit's temp dir is removed). */
  stop(): void;
}

/**
 * Writes the files of {@link InClusterCredentials} under `baseDir` (`serviceaccount/ca.crt`, `serviceaccount/namespace`
 * and `kubeconfig`), around a token volume already started in `baseDir/serviceaccount`.
 */
export async function writeInClusterCredentials(params: {
  baseDir: string;
  server: string;
  issuer: string;
  caPem: string;
  namespace: string;
  token: ProjectedToken;
}): Promise<InClusterCredentials> {
  const { token } = params;
  const dir = join(params.baseDir, 'serviceaccount');
  await mkdir(dir, { recursive: true });
  const caFile = join(dir, 'ca.crt');
  const namespaceFile = join(dir, 'namespace');
  const kubeconfigFile = join(params.baseDir, 'kubeconfig');
  const kubeconfig = inClusterKubeconfig(params.server, caFile, token.path);
  await writeFile(caFile, params.caPem);
  await writeFile(namespaceFile, params.namespace);
  await writeFile(kubeconfigFile, kubeconfig, { mode: 0o600 });
  const url = new URL(params.server);
  return {
    dir,
    tokenFile: token.path,
    caFile,
    namespaceFile,
    kubeconfigFile,
    token,
    env: {
      KUBERNETES_SERVICE_HOST: url.hostname,
      KUBERNETES_SERVICE_PORT: url.port || '443',
      K8S_AUTH_ISSUER: params.issuer,
      K8S_AUTH_CA_FILE: caFile,
      K8S_AUTH_TOKEN_FILE: token.path,
      K8S_AUTH_KUBECONFIG: kubeconfigFile,
    },
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromString(kubeconfig);
      return kc;
    },
    stop: () => token.stop(),
  };
}
