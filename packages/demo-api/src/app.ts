import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { TokenSource } from '@kube-service-auth/verifier';

/** What the API service is built from. */
export interface ApiAppOptions {
  /** The API's own ServiceAccount token (default or projected file). */
  tokenSource: TokenSource;
  /** Base URL of the data store, e.g. `http://app.data-store.svc.cluster.local`. */
  dataStoreUrl: string;
  logger: Logger;
  fetch?: typeof fetch;
  /** Time-out of the call to the data store, in milliseconds. Default 10000. */
  timeoutMs?: number;
}

/**
 * The article's API: on every request it takes its current token, calls the data store with it in `X-Client-Id`, and
 * forwards the data store's status and body. When the data store cannot be reached it answers 500 with the error text.
 */
export function createApiApp(options: ApiAppOptions): Express {
  const fetchImpl = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => {
    res.status(200).send('ok');
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await options.tokenSource.getToken();
      res.status(200).send('ready');
    } catch (err) {
      res.status(503).send(`not ready: ${(err as Error).message}`);
    }
  });
  app.get('/', async (_req, res) => {
    try {
      const token = await options.tokenSource.getToken();
      const response = await fetchImpl(options.dataStoreUrl, {
        headers: { 'X-Client-Id': token },
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await response.text();
      res
        .status(response.status)
        .type(response.headers.get('content-type') ?? 'text/plain')
        .send(body);
    } catch (err) {
      const message = describe(err);
      options.logger.error({ err: message }, 'calling the data store failed');
      res.status(500).type('text/plain').send(message);
    }
  });
  return app;
}

/** `fetch failed` alone says little: append the cause (e.g. `connect ECONNREFUSED 127.0.0.1:8081`) as Go would. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}
