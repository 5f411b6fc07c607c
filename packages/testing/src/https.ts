import { request } from 'node:https';

/** Credentials and trust for a request to the API server. */
export interface HttpsRequestOptions {
  /** PEM CA bundle to trust (the control plane's `caPem`). */
  ca: string;
  /** Bearer token, e.g. a ServiceAccount token. */
  token?: string;
  /** PEM client certificate and key, e.g. the admin credentials. */
  cert?: string;
  key?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

/** A buffered HTTPS response. */
export interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Minimal HTTPS client with a custom CA and optional client cert or bearer token. Global `fetch` cannot take a CA
 * without undici's dispatcher API, which is not a dependency here.
 * @throws on network errors and time-outs, never on HTTP status codes.
 */
export function httpsRequest(url: string, options: HttpsRequestOptions): Promise<HttpsResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        headers,
        agent: false,
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout requesting ${url}`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
