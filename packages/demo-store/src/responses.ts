import type { Request, Response } from 'express';
import type { KubeAuthError } from '@kube-service-auth/verifier';

/** The article's answers, word for word. */
export const MESSAGES = {
  ok: 'Hello from data store. You have been authenticated',
  missing: 'X-Client-Id not supplied',
  invalid: 'Invalid token',
  unavailable: 'Authentication is temporarily unavailable',
  misconfigured: 'Authentication is misconfigured',
} as const;

/**
 * Answers a rejection as the article's data store does: 401 when no token was sent, 403 for any token that is not
 * valid or not allowed. An outage of the authority is 503 (the article has no such case; we never turn it into a pass
 * or into "Invalid token"). The reason code goes into a header for operators; the token is never echoed.
 */
export function articleReject(_req: Request, res: Response, error: KubeAuthError): void {
  res.setHeader('X-Auth-Reason', error.code);
  switch (error.kind) {
    case 'unauthenticated':
      res.status(401).type('text/plain').send(MESSAGES.missing);
      return;
    case 'unavailable':
      res.setHeader('Retry-After', '5');
      res.status(503).type('text/plain').send(MESSAGES.unavailable);
      return;
    case 'misconfigured':
      // The service cannot authenticate anyone until an operator fixes it: a server error, not "Invalid token".
      res.status(500).type('text/plain').send(MESSAGES.misconfigured);
      return;
    default:
      res.status(403).type('text/plain').send(MESSAGES.invalid);
  }
}
