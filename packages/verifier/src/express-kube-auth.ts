import type { RequestHandler } from 'express';
import type { KubeAuthMiddlewareOptions } from './express.js';

// KubeAuth's middleware() is an express type: it is declared here, loaded with the ./express entry, so that the root
// entry (config.ts) carries no express types. createKubeAuth attaches the function itself.
declare module './config.js' {
  interface KubeAuth {
    /** The express middleware for one route; options override the configured ones (e.g. `revocationSensitive: true`). */
    middleware(options?: Partial<KubeAuthMiddlewareOptions>): RequestHandler;
  }
}
