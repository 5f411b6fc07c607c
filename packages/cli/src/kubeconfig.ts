import { request } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import type { FetchLike } from '@kube-service-auth/verifier';
import { UsageError } from './read-token.js';

/** Loads a kubeconfig as kubectl does: `--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`; then `--context`. */
export function loadKubeConfig(path: string | undefined, context: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (context) {
    if (!kc.getContexts().some((c) => c.name === context))
      throw new UsageError(`context "${context}" is not in the kubeconfig`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster())
    throw new UsageError('the kubeconfig has no current cluster (give --context or --kubeconfig)');
  return kc;
}

/** The API server URL of the current context. */
export function serverOf(kc: KubeConfig): string {
  return (kc.getCurrentCluster()?.server ?? '').replace(/\/+$/, '');
}

/** A {@link FetchLike} that authenticates as the kubeconfig's user (token, client certificate, exec plugin). */
export function kubeconfigFetch(kc: KubeConfig): FetchLike {
  return async (url, init) => {
    const options: Parameters<typeof request>[1] = { method: 'GET', headers: { ...init.headers }, signal: init.signal };
    await kc.applyToHTTPSOptions(options);
    return new Promise((resolve, reject) => {
      const req = request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: { get: (name) => (res.headers[name.toLowerCase()] as string | undefined) ?? null },
            text: async () => body,
          });
        });
      });
      req.on('error', reject);
      req.end();
    });
  };
}

/** The issuer the API server announces in its discovery document. */
export async function discoverIssuer(fetch: FetchLike, server: string): Promise<string> {
  const res = await fetch(`${server}/.well-known/openid-configuration`, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200)
    throw new Error(`cannot read ${server}/.well-known/openid-configuration: HTTP ${res.status} (give --issuer)`);
  const issuer = (JSON.parse(await res.text()) as { issuer?: unknown }).issuer;
  if (typeof issuer !== 'string') throw new Error('the discovery document names no issuer (give --issuer)');
  return issuer;
}
