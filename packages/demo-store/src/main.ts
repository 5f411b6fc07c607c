import { serve } from '@kube-service-auth/demo-common';
import { ConfigError, kubeAuthFromEnv } from '@kube-service-auth/verifier';
import { pino } from 'pino';
import { createStoreApp } from './app.js';
import { createMetrics } from './metrics.js';

const logger = pino({ name: 'data-store' });

// The article's data store accepts exactly the API's ServiceAccount, in the X-Client-Id header, for its own audience.
const env: Record<string, string | undefined> = {
  K8S_AUTH_HEADER: 'x-client-id',
  K8S_AUTH_AUDIENCE: 'data-store',
  K8S_AUTH_ALLOWED_IDENTITIES: 'system:serviceaccount:api:api',
  ...process.env,
};

try {
  const metrics = createMetrics();
  // Resolves once the kubeconfig (if any) is loaded and checked: a bad one stops the service here, before it listens.
  const auth = await kubeAuthFromEnv(env, { onEvent: (event) => metrics.onEvent(event) });
  serve(createStoreApp({ auth, logger, metrics }), env.LISTEN_ADDR ?? ':8081', logger, {
    mode: auth.config.mode,
    audiences: auth.config.audiences,
    issuers: auth.config.issuers.map((i) => i.issuer),
  });
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  logger.fatal({ variable: err.variable }, err.message);
  process.exit(2);
}
