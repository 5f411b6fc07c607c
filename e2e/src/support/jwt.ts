/**
 * The payload of a JWT, read WITHOUT verification: for clocks, assertions and descriptions in tests and tools, never
 * for a decision. Throws on a token that is not a JWS with a JSON payload.
 */
export function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}
