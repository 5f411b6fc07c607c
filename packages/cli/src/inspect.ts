import { decodeUnverified } from '@kube-service-auth/verifier';
import { audiences, bindings, relative, text, time } from './claims.js';

/** What `inspect` reports: the decoded token, the facts an operator needs, and warnings. Nothing here is verified. */
export interface Inspection {
  unverified: true;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  facts: Array<[string, string]>;
  warnings: string[];
}

export const UNVERIFIED_BANNER =
  '*** UNVERIFIED *** decoded without checking the signature, issuer, audience or revocation. Anyone can write these ' +
  'claims; use `kube-service-auth verify` to know whether a service would accept the token.';

/** Decodes `token` and explains its expiry, audience and bindings; throws when it is not a compact JWS. */
export function inspect(token: string, now: number = Date.now()): Inspection {
  const decoded = decodeUnverified(token);
  if (!decoded) throw new Error('not a JWT: expected three base64url segments with a JSON header and payload');
  const { header, payload } = decoded;
  const facts: Array<[string, string]> = [];
  const warnings: string[] = [];
  const at = (ms: number) => `${new Date(ms).toISOString()} (${relative(ms, now)})`;

  facts.push(['algorithm', `${text(header.alg)}${header.kid === undefined ? '' : `, key id ${text(header.kid)}`}`]);
  facts.push(['issuer', text(payload.iss)]);
  facts.push(['subject', text(payload.sub)]);
  const aud = audiences(payload);
  facts.push(['audience', aud.length > 0 ? aud.join(', ') : '(none)']);
  if (aud.length === 0) warnings.push('no audience: every service that checks aud refuses it');
  else if (aud.some((a) => /kubernetes\.default\.svc|^https:\/\//.test(a))) {
    warnings.push(
      `audience ${aud.join(', ')} is the API server's: a service must not accept it (request a token for the service's own audience)`,
    );
  }
  const iat = time(payload, 'iat');
  const nbf = time(payload, 'nbf');
  const exp = time(payload, 'exp');
  if (iat !== undefined) facts.push(['issued', at(iat)]);
  if (nbf !== undefined) facts.push(['not before', at(nbf)]);
  if (exp !== undefined) {
    facts.push([
      'expires',
      `${at(exp)}${iat !== undefined ? `, lifetime ${Math.round((exp - iat) / 60_000)} min` : ''}`,
    ]);
    if (exp <= now) warnings.push(`EXPIRED ${relative(exp, now)}: refused as token_expired (beyond the leeway)`);
  } else {
    warnings.push('no exp: a legacy Secret-based token, which never expires; services that verify locally refuse it');
  }
  if (nbf !== undefined && nbf > now)
    warnings.push(`not valid yet (nbf ${relative(nbf, now)}): refused as token_not_yet_valid beyond the leeway`);

  const b = bindings(payload);
  const ref = (v: unknown) => {
    const r = v as { name?: unknown; uid?: unknown } | undefined;
    return r ? `${text(r.name)}${r.uid ? ` (uid ${text(r.uid)})` : ''}` : undefined;
  };
  if (b.namespace) facts.push(['namespace', text(b.namespace)]);
  if (b.serviceaccount) facts.push(['service account', ref(b.serviceaccount) ?? '']);
  if (b.pod) facts.push(['bound to pod', ref(b.pod) ?? '']);
  if (b.node) facts.push(['on node', ref(b.node) ?? '']);
  if (b.secret) facts.push(['bound to secret', ref(b.secret) ?? '']);
  if (!b.pod && !b.secret && b.serviceaccount) {
    warnings.push('not bound to a pod: it stays valid until exp even after the pod that requested it is gone');
  }
  if (!b.serviceaccount) warnings.push('no kubernetes.io claims: not a ServiceAccount token of a current API server');
  return { unverified: true, header, payload, facts, warnings };
}

/** The human form of an {@link Inspection}. */
export function renderInspection(result: Inspection): string {
  const width = Math.max(...result.facts.map(([k]) => k.length));
  const lines = [UNVERIFIED_BANNER, '', ...result.facts.map(([k, v]) => `${k.padEnd(width)}  ${v}`)];
  if (result.warnings.length > 0) lines.push('', ...result.warnings.map((w) => `! ${w}`));
  return `${lines.join('\n')}\n`;
}
