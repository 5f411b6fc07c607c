/** Algorithms Kubernetes signs ServiceAccount tokens with: RS256 for RSA keys, ES256/384/512 for EC keys. */
export const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'ES384', 'ES512'] as const;

// The asymmetric JWS algorithms this package verifies end to end (key set → key import → signature): RSA and EC keys.
// `none` and HMAC are absent on purpose: with a public key as the "secret", HMAC is the classic key-confusion attack.
// EdDSA is absent too: the Kubernetes API server signs with RSA or EC keys only, so OKP keys are not read from key
// sets, and an algorithm that no key could ever verify does not belong on the list.
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']);

/** Validates an allow-list; throws a plain Error naming the bad entry (a configuration error, not a request error). */
export function checkAlgorithms(algorithms: readonly string[]): string[] {
  if (algorithms.length === 0) throw new Error('the algorithm allow-list is empty');
  for (const alg of algorithms) {
    if (!ASYMMETRIC.has(alg))
      throw new Error(`algorithm ${alg} is not allowed: only RSA (RS*, PS*) and EC (ES*) signature algorithms are`);
  }
  return [...algorithms];
}
