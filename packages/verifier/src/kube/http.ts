import { readFileSync } from 'node:fs';
import { Agent, fetch as undiciFetch } from 'undici';
import type { TokenSource } from '../client/token-source.js';

/** The part of `fetch` this package uses. Injected so that tests stub the network without monkey-patching. */
export type FetchLike = (
  url: string,
  init: { headers: Record<string, string>; signal: AbortSignal },
) => Promise<{ status: number; headers: { get(name: string): string | null }; text(): Promise<string> }>;

/** Options of {@link createKubeFetch}. */
export interface KubeFetchOptions {
  /** PEM bundle of CAs to trust (the cluster CA). When absent, the system trust store is used. */
  caPem?: string;
  /** Path of a PEM bundle, read once; e.g. `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`. */
  caFile?: string;
  /**
   * Token sent as `Authorization: Bearer` to the API server. Its discovery endpoints need an authenticated caller by
   * default, and the pod's own token rotates, so it is asked for on every request.
   */
  tokenSource?: TokenSource;
}

/**
 * A {@link FetchLike} that trusts the cluster CA and authenticates with a (rotating) ServiceAccount token: what a pod
 * needs to read `/.well-known/openid-configuration` and `/openid/v1/jwks` from its API server.
 */
export function createKubeFetch(options: KubeFetchOptions = {}): FetchLike {
  const ca = options.caPem ?? (options.caFile ? readFileSync(options.caFile, 'utf8') : undefined);
  const dispatcher = new Agent({ connect: ca ? { ca } : {}, keepAliveTimeout: 30_000 });
  return async (url, init) => {
    const headers = { ...init.headers };
    if (options.tokenSource) headers.authorization = `Bearer ${await options.tokenSource.getToken()}`;
    return undiciFetch(url, { headers, signal: init.signal, dispatcher, redirect: 'error' });
  };
}

/** Reads a response body as JSON, refusing bodies larger than `maxBytes`. */
export async function readJson(response: Awaited<ReturnType<FetchLike>>, maxBytes: number): Promise<unknown> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) throw new Error(`response body of ${declared} bytes exceeds ${maxBytes}`);
  const text = await response.text();
  if (text.length > maxBytes) throw new Error(`response body exceeds ${maxBytes} bytes`);
  return JSON.parse(text) as unknown;
}
