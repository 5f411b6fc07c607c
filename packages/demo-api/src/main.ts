import { serve } from '@kube-service-auth/demo-common';
import { FileTokenSource } from '@kube-service-auth/verifier';
import { pino } from 'pino';
import { createApiApp } from './app.js';

const logger = pino({ name: 'api' });

const tokenFile = process.env.TOKEN_FILE ?? '/var/run/secrets/kubernetes.io/serviceaccount/token';
const dataStoreUrl = process.env.DATA_STORE_CONNSTRING;
if (!dataStoreUrl) {
  logger.fatal('DATA_STORE_CONNSTRING is required (e.g. http://app.data-store.svc.cluster.local)');
  process.exit(2);
}

// The kubelet rotates the token file; the API reads it on every request, as in the article.
const tokenSource = new FileTokenSource({
  path: tokenFile,
  reread: process.env.TOKEN_REREAD === 'on-change' ? 'on-change' : 'always',
  onRead: ({ path, expiresAt }) => logger.info({ path, expiresAt }, 'Refreshing service account token'),
});

serve(createApiApp({ tokenSource, dataStoreUrl, logger }), process.env.LISTEN_ADDR ?? ':8080', logger, {
  tokenFile,
  dataStoreUrl,
});
