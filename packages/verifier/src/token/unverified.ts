import { assertCompactJws } from './extract.js';
import { decodeJws } from './jws.js';

/** A token's header and payload, decoded but not verified. */
export interface UnverifiedToken {
  header: Readonly<Record<string, unknown>>;
  payload: Record<string, unknown>;
}

/**
 * Decodes a compact JWS with the same strict decoder as verification ({@link decodeJws}), and verifies nothing.
 * Sound only where the token is already trusted or no decision rests on it: a caller reading its own token's `exp`,
 * a token the API server has just authenticated, an explanation printed by the CLI. Undefined when it is not a
 * well-formed JWS with JSON header and payload.
 */
export function decodeUnverified(token: string): UnverifiedToken | undefined {
  try {
    // No size bound of its own: whoever holds the token has bounded it, or is only explaining it.
    assertCompactJws(token, token.length);
    const { header, payload } = decodeJws(token);
    return { header, payload };
  } catch {
    return undefined;
  }
}
