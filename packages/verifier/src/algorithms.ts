/** Algorithms Kubernetes signs ServiceAccount tokens with: RS256 for RSA keys, ES256/384/512 for EC keys. */
export const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'ES384', 'ES512'] as const;

// Asymmetric JWS algorithms that jose verifies. `none` and HMAC are absent on purpose: with a public key as the
// "secret", HMAC is the classic key-confusion attack.
const ASYMMETRIC = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

/** Validates an allow-list; throws a plain Error naming the bad entry (a configuration error, not a request error). */
export function checkAlgorithms(algorithms: readonly string[]): string[] {
  if (algorithms.length === 0) throw new Error('the algorithm allow-list is empty');
  for (const alg of algorithms) {
    if (!ASYMMETRIC.has(alg))
      throw new Error(`algorithm ${alg} is not allowed: only asymmetric signature algorithms are`);
  }
  return [...algorithms];
}
