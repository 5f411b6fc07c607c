import { createHash } from 'node:crypto';

/**
 * A stable, non-reversible key for a token: caches and logs use it so that a token itself is never stored or echoed.
 * The whole token (signature included) is hashed, so two tokens that differ anywhere get different keys.
 */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
