import { hash } from 'node:crypto';

/**
 * A stable, non-reversible key for a token: caches and logs use it so that a token itself is never stored or echoed.
 * The whole token (signature included) is hashed, so two tokens that differ anywhere get different keys.
 */
export function tokenHash(token: string): string {
  // One-shot hash (Node >= 20.12): no Hash object per request on the hot path.
  return hash('sha256', token, 'base64url');
}
