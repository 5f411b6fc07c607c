import { KubeAuthError } from '../errors.js';

const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'iat', 'exp'] as const;

/**
 * The registered claims, checked as jose's `jwtVerify` checks them (same order, same outcome: the differential test
 * holds the two to one verdict): presence of iss, aud, sub, iat, exp; iss and aud; numeric times; nbf and exp with
 * leeway. A missing aud is `audience_mismatch` (a token minted for no audience is not meant for ours).
 */
export function checkRegisteredClaims(
  payload: Record<string, unknown>,
  issuer: string,
  audiences: string[],
  now: number,
  leeway: number,
): void {
  for (const claim of REQUIRED_CLAIMS) {
    if (!Object.hasOwn(payload, claim)) {
      throw new KubeAuthError(
        claim === 'aud' ? 'audience_mismatch' : 'claim_invalid',
        `missing required "${claim}" claim`,
        { claim },
      );
    }
  }
  if (payload.iss !== issuer)
    throw new KubeAuthError('issuer_mismatch', 'unexpected "iss" claim value', { claim: 'iss' });
  const aud = payload.aud;
  const audienceOk =
    typeof aud === 'string' ? audiences.includes(aud) : Array.isArray(aud) && audiences.some((a) => aud.includes(a));
  if (!audienceOk) throw new KubeAuthError('audience_mismatch', 'unexpected "aud" claim value', { claim: 'aud' });
  const seconds = Math.floor(now / 1000);
  if (typeof payload.iat !== 'number')
    throw new KubeAuthError('claim_invalid', '"iat" claim must be a number', { claim: 'iat' });
  const nbf = payload.nbf;
  if (nbf !== undefined) {
    if (typeof nbf !== 'number')
      throw new KubeAuthError('claim_invalid', '"nbf" claim must be a number', { claim: 'nbf' });
    if (nbf > seconds + leeway)
      throw new KubeAuthError('token_not_yet_valid', '"nbf" claim timestamp check failed', { claim: 'nbf' });
  }
  const exp = payload.exp;
  if (typeof exp !== 'number')
    throw new KubeAuthError('claim_invalid', '"exp" claim must be a number', { claim: 'exp' });
  if (exp <= seconds - leeway)
    throw new KubeAuthError('token_expired', '"exp" claim timestamp check failed', { claim: 'exp' });
}
