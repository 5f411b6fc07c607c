import { KubeAuthError } from '../errors.js';
import { readJson, type FetchLike } from '../kube/http.js';

/** The fields of an OpenID Provider configuration that this package uses. */
export interface DiscoveryDocument {
  issuer: string;
  jwks_uri: string;
  id_token_signing_alg_values_supported?: string[];
}

/**
 * Fetches `<issuer>/.well-known/openid-configuration` and returns it after checking that it names the same issuer
 * (OpenID Connect Discovery §4.3: a document for another issuer must not be used).
 */
export async function fetchDiscoveryDocument(
  issuer: string,
  fetch: FetchLike,
  timeoutMs: number,
): Promise<DiscoveryDocument> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let body: unknown;
  try {
    const response = await fetch(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status !== 200) throw new Error(`GET ${url}: HTTP ${response.status}`);
    body = await readJson(response, 64 * 1024);
  } catch (cause) {
    throw new KubeAuthError('jwks_unavailable', `OIDC discovery failed for issuer ${issuer}`, { cause });
  }
  if (typeof body !== 'object' || body === null) {
    throw new KubeAuthError('jwks_unavailable', `OIDC discovery document of ${issuer} is not an object`);
  }
  const doc = body as Partial<DiscoveryDocument>;
  if (doc.issuer !== issuer) {
    throw new KubeAuthError(
      'jwks_unavailable',
      `OIDC discovery document names issuer ${String(doc.issuer)}, expected ${issuer}`,
    );
  }
  if (typeof doc.jwks_uri !== 'string' || !/^https?:\/\//.test(doc.jwks_uri)) {
    throw new KubeAuthError('jwks_unavailable', `OIDC discovery document of ${issuer} has no usable jwks_uri`);
  }
  return doc as DiscoveryDocument;
}
