import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { identityToUserInfo, type KubeAuth, type ServiceAccountIdentity } from '@kube-service-auth/verifier';
// Imported for its effect: the express entry gives KubeAuth its middleware() (and req.kubeAuth its type).
import '@kube-service-auth/verifier/express';
import type { Metrics } from './metrics.js';
import { articleReject, MESSAGES } from './responses.js';

/** What the data store is built from. */
export interface StoreAppOptions {
  auth: KubeAuth;
  logger: Logger;
  metrics: Metrics;
  /** Where the review result is printed as formatted JSON, as the article does. Default: stdout. */
  printReview?: (text: string) => void;
}

/**
 * The article's data store: `GET /` answers "Hello from data store…" to an allowed caller. `GET /sensitive` is the
 * same but revocation-sensitive: even in local mode, the token is confirmed by TokenReview, so a deleted pod's token
 * is refused at once.
 */
export function createStoreApp(options: StoreAppOptions): Express {
  const { auth, logger, metrics } = options;
  const print = options.printReview ?? ((text: string) => process.stdout.write(`${text}\n`));
  const app = express();
  app.disable('x-powered-by');

  const common = {
    onReject: articleReject,
    onDecision: (event: Parameters<typeof metrics.onDecision>[0]) => {
      metrics.onDecision(event);
      if (event.outcome === 'rejected') {
        logger.info(
          { reason: event.reason, user: event.identity?.username, tokenHash: event.tokenHash, path: event.path },
          'request rejected',
        );
      }
    },
  };
  const greet = (req: express.Request, res: express.Response) => {
    print(JSON.stringify(reviewResult(req.kubeAuth?.identity), null, 2));
    res.status(200).type('text/plain').send(MESSAGES.ok);
  };

  app.get('/healthz', (_req, res) => {
    res.status(200).send('ok');
  });
  app.get('/readyz', async (_req, res) => {
    try {
      // Local mode is ready once it holds its issuers' keys (and, in watch mode, once the revocation watch has synced
      // and is not stale); TokenReview mode needs nothing warm.
      await auth.ready();
      res.status(200).send('ready');
    } catch (err) {
      res.status(503).send(`not ready: ${(err as Error).message}`);
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/', auth.middleware(common), greet);
  app.get('/sensitive', auth.middleware({ ...common, revocationSensitive: true }), greet);
  return app;
}

/** The review result as the article prints it: who the caller is and for which audiences; never the token. */
export function reviewResult(identity: ServiceAccountIdentity | undefined) {
  if (!identity) return { authenticated: false };
  const { username, uid, groups, extra } = identityToUserInfo(identity);
  return {
    authenticated: true,
    user: { username, uid, groups, extra },
    audiences: identity.audiences,
    verifiedBy: identity.verifiedBy,
  };
}
