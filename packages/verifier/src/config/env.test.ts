import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadConfig } from './env.js';

const REQUIRED = { K8S_AUTH_AUDIENCE: 'data-store', K8S_AUTH_ALLOWED_IDENTITIES: 'system:serviceaccount:api:api' };
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

let dir: string;
let existingFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kube-auth-config-'));
  existingFile = join(dir, 'ca.crt');
  writeFileSync(existingFile, 'not really a PEM');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('loadConfig: defaults', () => {
  it('fills every setting with its documented default', () => {
    expect(loadConfig(REQUIRED)).toEqual({
      mode: 'local',
      audiences: ['data-store'],
      issuers: [{ issuer: 'https://kubernetes.default.svc.cluster.local' }],
      caFile: existsSync(`${SA_DIR}/ca.crt`) ? `${SA_DIR}/ca.crt` : undefined,
      tokenFile: existsSync(`${SA_DIR}/token`) ? `${SA_DIR}/token` : undefined,
      kubeconfig: undefined,
      allow: ['system:serviceaccount:api:api'],
      allowGroups: [],
      header: 'authorization',
      algorithms: ['RS256', 'ES256', 'ES384', 'ES512'],
      leewaySeconds: 60,
      requirePodBinding: false,
      requireNodeBinding: false,
      maxTokenBytes: 8192,
      cacheTtlSeconds: 3600,
      cacheMaxEntries: 10_000,
      jwksCooldownSeconds: 5,
      jwksMaxStalenessSeconds: 3600,
      jwksMaxAgeSeconds: 3600,
      tokenReviewCacheTtlSeconds: 10,
      tokenReviewNegativeCacheTtlSeconds: 5,
      tokenReviewMaxInflight: 100,
      tokenReviewPrecheck: true,
      timeoutMs: 5000,
      revocation: 'tokenreview',
      revocationNamespaces: [],
      revocationMaxStalenessSeconds: 10,
      revocationFallback: 'tokenreview',
      access: undefined,
      accessAllowTtlSeconds: 10,
      accessDenyTtlSeconds: 10,
    });
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ ...REQUIRED, K8S_AUTH_MODE: '', K8S_AUTH_LEEWAY_SECONDS: '  ' })).toMatchObject({
      mode: 'local',
      leewaySeconds: 60,
    });
  });
});

describe('loadConfig: values', () => {
  it('reads every variable', () => {
    const config = loadConfig({
      K8S_AUTH_MODE: 'tokenreview',
      K8S_AUTH_AUDIENCE: 'data-store, data-store-v2',
      K8S_AUTH_ISSUER: 'https://a.example,https://b.example',
      K8S_AUTH_JWKS_URI: 'https://a.example/jwks, http://b.internal/jwks',
      K8S_AUTH_CA_FILE: existingFile,
      K8S_AUTH_TOKEN_FILE: existingFile,
      K8S_AUTH_KUBECONFIG: existingFile,
      K8S_AUTH_ALLOWED_IDENTITIES: 'api:api, web:*',
      K8S_AUTH_ALLOWED_GROUPS: 'system:serviceaccounts:batch',
      K8S_AUTH_HEADER: 'X-Client-Id',
      K8S_AUTH_ALGORITHMS: 'RS256,PS256',
      K8S_AUTH_LEEWAY_SECONDS: '0',
      K8S_AUTH_REQUIRE_POD_BINDING: 'true',
      K8S_AUTH_REQUIRE_NODE_BINDING: 'yes',
      K8S_AUTH_MAX_TOKEN_BYTES: '4096',
      K8S_AUTH_CACHE_TTL_SECONDS: '0',
      K8S_AUTH_CACHE_MAX_ENTRIES: '50',
      K8S_AUTH_JWKS_COOLDOWN_SECONDS: '5',
      K8S_AUTH_JWKS_MAX_STALENESS_SECONDS: '0',
      K8S_AUTH_JWKS_MAX_AGE_SECONDS: '60',
      K8S_AUTH_TOKENREVIEW_CACHE_TTL_SECONDS: '300',
      K8S_AUTH_TOKENREVIEW_NEGATIVE_CACHE_TTL_SECONDS: '0',
      K8S_AUTH_TOKENREVIEW_MAX_INFLIGHT: '8',
      K8S_AUTH_TOKENREVIEW_PRECHECK: 'false',
      K8S_AUTH_TIMEOUT_MS: '100',
      K8S_AUTH_REVOCATION: 'none',
      K8S_AUTH_REVOCATION_NAMESPACES: 'api,web',
      K8S_AUTH_REVOCATION_MAX_STALENESS_SECONDS: '30',
      K8S_AUTH_REVOCATION_FALLBACK: 'none',
      K8S_AUTH_SAR_VERB: 'get',
      K8S_AUTH_SAR_RESOURCE: 'records.data.example.com',
      K8S_AUTH_SAR_NAMESPACE: 'data-store',
      K8S_AUTH_SAR_NAME: 'r1',
      K8S_AUTH_SAR_ALLOW_TTL_SECONDS: '60',
      K8S_AUTH_SAR_DENY_TTL_SECONDS: '0',
    });
    expect(config).toEqual({
      mode: 'tokenreview',
      audiences: ['data-store', 'data-store-v2'],
      issuers: [
        { issuer: 'https://a.example', jwksUri: 'https://a.example/jwks' },
        { issuer: 'https://b.example', jwksUri: 'http://b.internal/jwks' },
      ],
      caFile: existingFile,
      tokenFile: existingFile,
      kubeconfig: existingFile,
      allow: ['api:api', 'web:*'],
      allowGroups: ['system:serviceaccounts:batch'],
      header: 'x-client-id',
      algorithms: ['RS256', 'PS256'],
      leewaySeconds: 0,
      requirePodBinding: true,
      requireNodeBinding: true,
      maxTokenBytes: 4096,
      cacheTtlSeconds: 0,
      cacheMaxEntries: 50,
      jwksCooldownSeconds: 5,
      jwksMaxStalenessSeconds: 0,
      jwksMaxAgeSeconds: 60,
      tokenReviewCacheTtlSeconds: 300,
      tokenReviewNegativeCacheTtlSeconds: 0,
      tokenReviewMaxInflight: 8,
      tokenReviewPrecheck: false,
      timeoutMs: 100,
      revocation: 'none',
      revocationNamespaces: ['api', 'web'],
      revocationMaxStalenessSeconds: 30,
      revocationFallback: 'none',
      access: { verb: 'get', resource: 'records', group: 'data.example.com', namespace: 'data-store', name: 'r1' },
      accessAllowTtlSeconds: 60,
      accessDenyTtlSeconds: 0,
    });
  });

  it('turns the CA and token files off with "none"', () => {
    expect(loadConfig({ ...REQUIRED, K8S_AUTH_CA_FILE: 'none', K8S_AUTH_TOKEN_FILE: 'none' })).toMatchObject({
      caFile: undefined,
      tokenFile: undefined,
    });
  });

  it('accepts allowed groups without allowed identities', () => {
    const config = loadConfig({ K8S_AUTH_AUDIENCE: 'x', K8S_AUTH_ALLOWED_GROUPS: 'system:serviceaccounts:api' });
    expect(config.allow).toEqual([]);
    expect(config.allowGroups).toEqual(['system:serviceaccounts:api']);
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['No', false],
  ])('reads the boolean "%s" as %s', (raw, value) => {
    expect(loadConfig({ ...REQUIRED, K8S_AUTH_REQUIRE_POD_BINDING: raw }).requirePodBinding).toBe(value);
  });
});

describe('loadConfig: invalid values name their variable', () => {
  const missing = '/nonexistent/kube-service-auth/file';
  it.each([
    ['K8S_AUTH_MODE', { K8S_AUTH_MODE: 'offline' }],
    ['K8S_AUTH_AUDIENCE', { K8S_AUTH_AUDIENCE: undefined }],
    ['K8S_AUTH_AUDIENCE', { K8S_AUTH_AUDIENCE: ' , ' }],
    ['K8S_AUTH_ISSUER', { K8S_AUTH_ISSUER: 'http://kubernetes.default.svc' }],
    ['K8S_AUTH_ISSUER', { K8S_AUTH_ISSUER: 'https://ok.example,kubernetes.default.svc' }],
    ['K8S_AUTH_ISSUER', { K8S_AUTH_ISSUER: ',' }],
    [
      'K8S_AUTH_JWKS_URI',
      { K8S_AUTH_ISSUER: 'https://a.example,https://b.example', K8S_AUTH_JWKS_URI: 'https://a.example/jwks' },
    ],
    ['K8S_AUTH_JWKS_URI', { K8S_AUTH_JWKS_URI: 'https://a.example/jwks,https://b.example/jwks' }],
    ['K8S_AUTH_JWKS_URI', { K8S_AUTH_JWKS_URI: 'kubernetes.default.svc/openid/v1/jwks' }],
    ['K8S_AUTH_ALLOWED_IDENTITIES', { K8S_AUTH_ALLOWED_IDENTITIES: undefined }],
    ['K8S_AUTH_ALLOWED_IDENTITIES', { K8S_AUTH_ALLOWED_IDENTITIES: 'api' }],
    ['K8S_AUTH_ALLOWED_IDENTITIES', { K8S_AUTH_ALLOWED_IDENTITIES: 'api:api,Not:Valid' }],
    ['K8S_AUTH_ALGORITHMS', { K8S_AUTH_ALGORITHMS: 'RS256,HS256' }],
    ['K8S_AUTH_ALGORITHMS', { K8S_AUTH_ALGORITHMS: 'none' }],
    ['K8S_AUTH_ALGORITHMS', { K8S_AUTH_ALGORITHMS: 'RS256,EdDSA' }],
    ['K8S_AUTH_ALGORITHMS', { K8S_AUTH_ALGORITHMS: ',' }],
    ['K8S_AUTH_HEADER', { K8S_AUTH_HEADER: 'x client id' }],
    ['K8S_AUTH_LEEWAY_SECONDS', { K8S_AUTH_LEEWAY_SECONDS: '-1' }],
    ['K8S_AUTH_LEEWAY_SECONDS', { K8S_AUTH_LEEWAY_SECONDS: '601' }],
    ['K8S_AUTH_LEEWAY_SECONDS', { K8S_AUTH_LEEWAY_SECONDS: '1.5' }],
    ['K8S_AUTH_LEEWAY_SECONDS', { K8S_AUTH_LEEWAY_SECONDS: 'sixty' }],
    ['K8S_AUTH_MAX_TOKEN_BYTES', { K8S_AUTH_MAX_TOKEN_BYTES: '511' }],
    ['K8S_AUTH_MAX_TOKEN_BYTES', { K8S_AUTH_MAX_TOKEN_BYTES: '65537' }],
    ['K8S_AUTH_CACHE_TTL_SECONDS', { K8S_AUTH_CACHE_TTL_SECONDS: '86401' }],
    ['K8S_AUTH_CACHE_MAX_ENTRIES', { K8S_AUTH_CACHE_MAX_ENTRIES: '0' }],
    ['K8S_AUTH_JWKS_COOLDOWN_SECONDS', { K8S_AUTH_JWKS_COOLDOWN_SECONDS: '0' }],
    ['K8S_AUTH_JWKS_MAX_STALENESS_SECONDS', { K8S_AUTH_JWKS_MAX_STALENESS_SECONDS: '604801' }],
    ['K8S_AUTH_JWKS_MAX_AGE_SECONDS', { K8S_AUTH_JWKS_MAX_AGE_SECONDS: '9' }],
    ['K8S_AUTH_TOKENREVIEW_CACHE_TTL_SECONDS', { K8S_AUTH_TOKENREVIEW_CACHE_TTL_SECONDS: '301' }],
    ['K8S_AUTH_TOKENREVIEW_NEGATIVE_CACHE_TTL_SECONDS', { K8S_AUTH_TOKENREVIEW_NEGATIVE_CACHE_TTL_SECONDS: '-5' }],
    ['K8S_AUTH_TIMEOUT_MS', { K8S_AUTH_TIMEOUT_MS: '99' }],
    ['K8S_AUTH_REQUIRE_POD_BINDING', { K8S_AUTH_REQUIRE_POD_BINDING: 'maybe' }],
    ['K8S_AUTH_CA_FILE', { K8S_AUTH_CA_FILE: missing }],
    ['K8S_AUTH_TOKEN_FILE', { K8S_AUTH_TOKEN_FILE: missing }],
    ['K8S_AUTH_KUBECONFIG', { K8S_AUTH_KUBECONFIG: missing }],
  ])('throws ConfigError naming %s (%j)', (variable, override) => {
    const err = configError({ ...REQUIRED, ...override });
    expect(err.variable).toBe(variable);
  });
});

describe('revocation watch and SubjectAccessReview configuration', () => {
  it('derives the watched namespaces from the allow-list, or takes them explicitly', () => {
    expect(loadConfig({ ...REQUIRED, K8S_AUTH_REVOCATION: 'watch' })).toMatchObject({
      revocation: 'watch',
      revocationNamespaces: ['api'],
    });
    expect(
      loadConfig({
        ...REQUIRED,
        K8S_AUTH_ALLOWED_IDENTITIES: '*',
        K8S_AUTH_REVOCATION: 'watch',
        K8S_AUTH_REVOCATION_NAMESPACES: 'api, jobs',
      }),
    ).toMatchObject({ revocationNamespaces: ['api', 'jobs'] });
  });

  it('names the variable of every invalid revocation setting', () => {
    expect(configError({ ...REQUIRED, K8S_AUTH_REVOCATION: 'always' }).variable).toBe('K8S_AUTH_REVOCATION');
    expect(configError({ ...REQUIRED, K8S_AUTH_MODE: 'tokenreview', K8S_AUTH_REVOCATION: 'watch' }).variable).toBe(
      'K8S_AUTH_REVOCATION',
    );
    expect(configError({ ...REQUIRED, K8S_AUTH_ALLOWED_IDENTITIES: '*', K8S_AUTH_REVOCATION: 'watch' }).variable).toBe(
      'K8S_AUTH_REVOCATION_NAMESPACES',
    );
    expect(
      configError({ ...REQUIRED, K8S_AUTH_REVOCATION: 'watch', K8S_AUTH_REVOCATION_NAMESPACES: 'Bad_NS' }).variable,
    ).toBe('K8S_AUTH_REVOCATION_NAMESPACES');
    expect(configError({ ...REQUIRED, K8S_AUTH_REVOCATION_FALLBACK: 'maybe' }).variable).toBe(
      'K8S_AUTH_REVOCATION_FALLBACK',
    );
    expect(configError({ ...REQUIRED, K8S_AUTH_REVOCATION_MAX_STALENESS_SECONDS: '-1' }).variable).toBe(
      'K8S_AUTH_REVOCATION_MAX_STALENESS_SECONDS',
    );
  });

  it('reads static SubjectAccessReview attributes, which replace the allow-list requirement', () => {
    const sar = {
      K8S_AUTH_AUDIENCE: 'data-store',
      K8S_AUTH_SAR_VERB: 'get',
      K8S_AUTH_SAR_RESOURCE: 'records.data.example.com/status',
    };
    expect(loadConfig({ ...sar, K8S_AUTH_SAR_NAMESPACE: 'data-store' }).access).toEqual({
      verb: 'get',
      resource: 'records',
      group: 'data.example.com',
      subresource: 'status',
      namespace: 'data-store',
    });
    expect(
      loadConfig({ K8S_AUTH_AUDIENCE: 'data-store', K8S_AUTH_SAR_VERB: 'get', K8S_AUTH_SAR_PATH: '/metrics' }).access,
    ).toEqual({ verb: 'get', path: '/metrics' });
    expect(configError({ K8S_AUTH_AUDIENCE: 'data-store', K8S_AUTH_SAR_RESOURCE: 'records' }).variable).toBe(
      'K8S_AUTH_SAR_VERB',
    );
    expect(configError({ ...sar, K8S_AUTH_SAR_PATH: '/metrics' }).variable).toBe('K8S_AUTH_SAR_RESOURCE');
    expect(
      configError({ K8S_AUTH_AUDIENCE: 'data-store', K8S_AUTH_SAR_VERB: 'get', K8S_AUTH_SAR_PATH: 'metrics' }).variable,
    ).toBe('K8S_AUTH_SAR_PATH');
    // RBAC only, with the watch: the namespaces cannot be derived from an allow-list.
    expect(configError({ ...sar, K8S_AUTH_REVOCATION: 'watch' }).variable).toBe('K8S_AUTH_REVOCATION_NAMESPACES');
  });
});
