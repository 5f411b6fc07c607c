import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import Fastify from 'fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createKubeAuth, kubeAuthFromEnv, loadConfig } from './config.js';
import type { VerifierEvent } from './events.js';
import { fastifyKubeAuth } from './fastify.js';
import {
  AUDIENCE,
  fakeClock,
  FakeIssuer,
  FakeTokenReviewClient,
  generateTestKey,
  ISSUER,
  signToken,
  type TestKey,
} from './test-support.js';
import { FakeMetadataServer } from './test-support-watch.js';

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

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError');
}

async function configRejectionOf(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError');
}

/** A kubeconfig with no current context (add `current-context: c` to use it). */
const KUBECONFIG = {
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
  users: [{ name: 'u', user: { token: 'x' } }],
  contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
};

/** Runs `fn` with no $KUBECONFIG and a HOME without ~/.kube, so that client-node finds no configuration. */
async function withoutKubeconfig<T>(fn: () => Promise<T>, env: Record<string, string> = {}): Promise<T> {
  const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
  delete process.env.KUBECONFIG;
  process.env.HOME = dir;
  Object.assign(process.env, env);
  try {
    if (existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token'))
      throw new Error('running in a pod: cannot test the absence of credentials');
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('createKubeAuth', () => {
  let rsa: TestKey;
  beforeAll(async () => {
    rsa = await generateTestKey('RS256', 'rsa-1');
  });

  async function stack(env: Record<string, string> = {}) {
    const time = fakeClock();
    const issuer = new FakeIssuer({ keys: [rsa] });
    const client = new FakeTokenReviewClient();
    const events: VerifierEvent[] = [];
    const auth = await createKubeAuth(
      loadConfig({
        ...REQUIRED,
        K8S_AUTH_ISSUER: ISSUER,
        K8S_AUTH_HEADER: 'x-client-id',
        K8S_AUTH_CA_FILE: 'none',
        K8S_AUTH_TOKEN_FILE: 'none',
        ...env,
      }),
      { fetch: issuer.fetch, tokenReviewClient: client, clock: time.clock, onEvent: (e) => events.push(e) },
    );
    const app = express();
    app.get('/data', auth.middleware(), (req, res) => {
      res.send(`hello ${req.kubeAuth?.identity.username ?? ''}`);
    });
    app.delete('/data', auth.middleware({ revocationSensitive: true }), (_req, res) => {
      res.send('deleted');
    });
    return { auth, app, issuer, client, events, time };
  }

  it('builds a local-mode stack that verifies offline through the middleware', async () => {
    const { auth, app, issuer, client } = await stack();
    expect(auth.verifier.mode).toBe('local');
    const res = await request(app)
      .get('/data')
      .set('X-Client-Id', await signToken(rsa));
    expect([res.status, res.text]).toEqual([200, 'hello system:serviceaccount:api:api']);
    expect(issuer.calls).toEqual([issuer.discoveryUrl, issuer.jwksUri]);
    expect(client.requests).toEqual([]);
  });

  it('rejects callers the configured identities do not include with 403', async () => {
    const { app } = await stack();
    const res = await request(app)
      .get('/data')
      .set('X-Client-Id', await signToken(rsa, { namespace: 'web', serviceAccount: 'frontend' }));
    expect(res.status).toBe(403);
  });

  it('rejects tokens for another audience with 401', async () => {
    const { app } = await stack();
    const res = await request(app)
      .get('/data')
      .set('X-Client-Id', await signToken(rsa, { audience: ['https://kubernetes.default.svc'] }));
    expect([res.status, res.body.reason]).toEqual([401, 'audience_mismatch']);
  });

  it('confirms revocation-sensitive routes with TokenReview in local mode', async () => {
    const { app, client } = await stack();
    const res = await request(app)
      .delete('/data')
      .set('X-Client-Id', await signToken(rsa));
    expect(res.status).toBe(200);
    expect(client.requests).toHaveLength(1);
  });

  it('uses the configured JWKS URI without discovery', async () => {
    const { app, issuer } = await stack({ K8S_AUTH_JWKS_URI: `${ISSUER}/openid/v1/jwks` });
    await request(app)
      .get('/data')
      .set('X-Client-Id', await signToken(rsa));
    expect(issuer.calls).toEqual([issuer.jwksUri]);
  });

  it('bounds the key set’s max-age by K8S_AUTH_JWKS_MAX_AGE_SECONDS', async () => {
    const { app, events } = await stack({ K8S_AUTH_JWKS_MAX_AGE_SECONDS: '60' });
    await request(app)
      .get('/data')
      .set('X-Client-Id', await signToken(rsa));
    expect(events.find((e) => e.type === 'jwks_fetch')).toMatchObject({ ok: true, maxAgeSeconds: 60 });
  });

  it('builds a tokenreview-mode stack that reviews every token, pre-checked offline', async () => {
    const { auth, app, client, issuer } = await stack({ K8S_AUTH_MODE: 'tokenreview' });
    expect(auth.verifier.mode).toBe('tokenreview');
    const res = await request(app)
      .get('/data')
      .set('X-Client-Id', await signToken(rsa));
    expect([res.status, res.text]).toEqual([200, 'hello system:serviceaccount:api:api']);
    expect(client.requests).toHaveLength(1);
    expect(issuer.calls).toEqual([issuer.discoveryUrl, issuer.jwksUri]);
  });

  it('tokenreview mode: a forged token is refused by the pre-check and never reaches the API server', async () => {
    const { app, client } = await stack({ K8S_AUTH_MODE: 'tokenreview' });
    const forger = await generateTestKey('RS256', 'rsa-1');
    const res = await request(app)
      .get('/data')
      .set('X-Client-Id', await signToken(forger));
    expect([res.status, res.body.reason]).toEqual([401, 'signature_invalid']);
    expect(client.requests).toEqual([]);
  });

  it('tokenreview mode with K8S_AUTH_TOKENREVIEW_PRECHECK=false: the review alone decides, no key set is fetched', async () => {
    const { auth, app, client, issuer } = await stack({
      K8S_AUTH_MODE: 'tokenreview',
      K8S_AUTH_TOKENREVIEW_PRECHECK: 'false',
    });
    expect(auth.verifier.local).toBeUndefined();
    const res = await request(app)
      .get('/data')
      .set('X-Client-Id', await signToken(rsa));
    expect(res.status).toBe(200);
    expect(client.requests).toHaveLength(1);
    expect(issuer.calls).toEqual([]);
  });

  it('K8S_AUTH_REQUIRE_NODE_BINDING refuses tokens without a node in both modes', async () => {
    for (const mode of ['local', 'tokenreview']) {
      const { app } = await stack({ K8S_AUTH_MODE: mode, K8S_AUTH_REQUIRE_NODE_BINDING: 'true' });
      const res = await request(app)
        .get('/data')
        .set('X-Client-Id', await signToken(rsa, { node: null }));
      expect([mode, res.status, res.body.reason]).toEqual([mode, 401, 'claim_invalid']);
      expect(
        (
          await request(app)
            .get('/data')
            .set('X-Client-Id', await signToken(rsa))
        ).status,
      ).toBe(200);
    }
  });

  it('fails at start-up, naming K8S_AUTH_KUBECONFIG, in tokenreview mode without any API server configured', async () => {
    const env = { ...REQUIRED, K8S_AUTH_MODE: 'tokenreview', K8S_AUTH_CA_FILE: 'none', K8S_AUTH_TOKEN_FILE: 'none' };
    const err = await withoutKubeconfig(() =>
      configRejectionOf(kubeAuthFromEnv(env, { fetch: new FakeIssuer().fetch })),
    );
    expect(err.variable).toBe('K8S_AUTH_KUBECONFIG');
    const none = await configRejectionOf(
      kubeAuthFromEnv({ ...env, K8S_AUTH_KUBECONFIG: 'none' }, { fetch: new FakeIssuer().fetch }),
    );
    expect(none.variable).toBe('K8S_AUTH_KUBECONFIG');
  });

  it('fails at start-up, naming the variable, on a kubeconfig that cannot be loaded or has no current cluster', async () => {
    const env = { ...REQUIRED, K8S_AUTH_CA_FILE: 'none', K8S_AUTH_TOKEN_FILE: 'none' };
    const broken = join(dir, 'broken-kubeconfig');
    writeFileSync(broken, 'clusters: [this is not: a kubeconfig');
    const noContext = join(dir, 'no-context-kubeconfig');
    writeFileSync(noContext, JSON.stringify(KUBECONFIG));
    for (const file of [broken, noContext]) {
      const err = await configRejectionOf(
        kubeAuthFromEnv({ ...env, K8S_AUTH_KUBECONFIG: file }, { fetch: new FakeIssuer().fetch }),
      );
      expect([err.variable, err.message]).toEqual(['K8S_AUTH_KUBECONFIG', expect.stringContaining(file)]);
    }
    // One found by default through $KUBECONFIG is blamed on that variable.
    const fromEnv = await withoutKubeconfig(
      () => configRejectionOf(kubeAuthFromEnv(env, { fetch: new FakeIssuer().fetch })),
      { KUBECONFIG: broken },
    );
    expect(fromEnv.variable).toBe('KUBECONFIG');
  });

  it('local mode with K8S_AUTH_KUBECONFIG=none: no API server even when one could be found', async () => {
    const found = join(dir, 'found-kubeconfig');
    writeFileSync(found, JSON.stringify({ ...KUBECONFIG, 'current-context': 'c' }));
    const env = { ...REQUIRED, K8S_AUTH_CA_FILE: 'none', K8S_AUTH_TOKEN_FILE: 'none' };
    const withFound = await withoutKubeconfig(() => kubeAuthFromEnv(env, { fetch: new FakeIssuer().fetch }), {
      KUBECONFIG: found,
    });
    expect(withFound.verifier.tokenReview).toBeDefined();
    const auth = await withoutKubeconfig(
      () => kubeAuthFromEnv({ ...env, K8S_AUTH_KUBECONFIG: 'none' }, { fetch: new FakeIssuer().fetch }),
      { KUBECONFIG: found },
    );
    expect(auth.verifier.tokenReview).toBeUndefined();
    expect(auth.accessReviewer).toBeUndefined();
    expect(configErrorOf(() => auth.middleware({ revocationSensitive: true })).variable).toBe('K8S_AUTH_KUBECONFIG');
  });

  it('local mode without any API server: no TokenReview client (no silent localhost:8080), a revocation-sensitive route fails at start-up', async () => {
    const env = { ...REQUIRED, K8S_AUTH_CA_FILE: 'none', K8S_AUTH_TOKEN_FILE: 'none' };
    const auth = await withoutKubeconfig(() => kubeAuthFromEnv(env, { fetch: new FakeIssuer().fetch }));
    expect(auth.verifier.tokenReview).toBeUndefined();
    expect(() => auth.middleware()).not.toThrow();
    expect(configErrorOf(() => auth.middleware({ revocationSensitive: true })).variable).toBe('K8S_AUTH_KUBECONFIG');
  });

  it('local mode with a kubeconfig: a TokenReview client for revocation-sensitive routes', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({ ...KUBECONFIG, 'current-context': 'c' }));
    const env = { ...REQUIRED, K8S_AUTH_CA_FILE: 'none', K8S_AUTH_TOKEN_FILE: 'none', K8S_AUTH_KUBECONFIG: kubeconfig };
    const auth = await kubeAuthFromEnv(env, { fetch: new FakeIssuer().fetch });
    expect(auth.verifier.tokenReview).toBeDefined();
    expect(auth.accessReviewer).toBeDefined();
    expect(() => auth.middleware({ revocationSensitive: true })).not.toThrow();
  });

  it('kubeAuthFromEnv validates the environment first', async () => {
    await expect(
      kubeAuthFromEnv({}, { fetch: new FakeIssuer().fetch, tokenReviewClient: new FakeTokenReviewClient() }),
    ).rejects.toThrow(ConfigError);
  });

  it('kubeAuthFromEnv builds the configured stack', async () => {
    const auth = await kubeAuthFromEnv(
      { ...REQUIRED, K8S_AUTH_CA_FILE: 'none', K8S_AUTH_TOKEN_FILE: 'none', K8S_AUTH_AUDIENCE: AUDIENCE },
      { fetch: new FakeIssuer().fetch, tokenReviewClient: new FakeTokenReviewClient() },
    );
    expect(auth.config.audiences).toEqual([AUDIENCE]);
    expect(auth.policy.decide({ ...identityOf('api', 'api') }).allowed).toBe(true);
  });
});

function identityOf(namespace: string, name: string) {
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    namespace,
    serviceAccount: { name, uid: 'u' },
    groups: [],
    audiences: [AUDIENCE],
    verifiedBy: 'local' as const,
  };
}

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

describe('createKubeAuth: watch-mode revocation and SubjectAccessReview', () => {
  let rsa: TestKey;
  beforeAll(async () => {
    rsa = await generateTestKey('RS256', 'rsa-1');
  });

  async function stack(env: Record<string, string>, allowed: () => boolean = () => true) {
    const issuer = new FakeIssuer({ keys: [rsa] });
    const server = new FakeMetadataServer();
    server.create('/api/v1/namespaces/api/serviceaccounts', 'api', { uid: 'sa-uid-api-api' });
    server.create('/api/v1/namespaces/api/pods', 'api-7d4b9c-x2x9z', { uid: 'pod-uid-1' });
    const reviews = new FakeTokenReviewClient();
    const sars: unknown[] = [];
    const auth = await createKubeAuth(
      loadConfig({
        K8S_AUTH_AUDIENCE: AUDIENCE,
        K8S_AUTH_ISSUER: ISSUER,
        K8S_AUTH_CA_FILE: 'none',
        K8S_AUTH_TOKEN_FILE: 'none',
        ...env,
      }),
      {
        fetch: issuer.fetch,
        tokenReviewClient: reviews,
        metadataClient: server,
        subjectAccessReviewClient: {
          async createSubjectAccessReview(review) {
            sars.push(review.spec);
            return { ...review, status: { allowed: allowed() } };
          },
        },
      },
    );
    const app = express();
    app.get('/data', auth.middleware(), (_req, res) => {
      res.send('ok');
    });
    return { auth, app, server, reviews, sars, token: await signToken(rsa, { issuedAt: Date.now() }) };
  }

  it('refuses the token of a deleted pod on a plain route in watch mode, and reports readiness from the watch', async () => {
    const { auth, app, server, reviews, token } = await stack({ ...REQUIRED, K8S_AUTH_REVOCATION: 'watch' });
    try {
      await auth.revocation?.watch.waitForSync();
      await expect(auth.ready()).resolves.toBeUndefined();
      expect((await request(app).get('/data').set('Authorization', `Bearer ${token}`)).status).toBe(200);
      server.remove('/api/v1/namespaces/api/pods', 'api-7d4b9c-x2x9z');
      const refused = await request(app).get('/data').set('Authorization', `Bearer ${token}`);
      expect([refused.status, refused.body.reason]).toEqual([401, 'token_revoked']);
      expect(reviews.requests).toHaveLength(0);
    } finally {
      auth.close();
    }
  });

  it('asks RBAC about every route when K8S_AUTH_SAR_* is set, with no allow-list needed', async () => {
    let allowed = true;
    const { app, sars, token } = await stack(
      {
        K8S_AUTH_SAR_VERB: 'get',
        K8S_AUTH_SAR_RESOURCE: 'records.data.example.com',
        K8S_AUTH_SAR_NAMESPACE: 'data-store',
        K8S_AUTH_SAR_DENY_TTL_SECONDS: '0',
        K8S_AUTH_SAR_ALLOW_TTL_SECONDS: '0',
      },
      () => allowed,
    );
    expect((await request(app).get('/data').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    allowed = false;
    const denied = await request(app).get('/data').set('Authorization', `Bearer ${token}`);
    expect([denied.status, denied.body.reason]).toEqual([403, 'subjectaccessreview_denied']);
    expect(sars[0]).toMatchObject({
      user: 'system:serviceaccount:api:api',
      resourceAttributes: { verb: 'get', resource: 'records', group: 'data.example.com' },
    });
  });

  it('adapterOptions() gives fastify what middleware() gives express: the watch verifier, SAR attributes and reviewer', async () => {
    let allowed = true;
    const { auth, server, reviews, sars, token } = await stack(
      {
        ...REQUIRED,
        K8S_AUTH_REVOCATION: 'watch',
        K8S_AUTH_REVOCATION_NAMESPACES: 'api',
        K8S_AUTH_SAR_VERB: 'get',
        K8S_AUTH_SAR_RESOURCE: 'records.data.example.com',
        K8S_AUTH_SAR_NAMESPACE: 'data-store',
        K8S_AUTH_SAR_DENY_TTL_SECONDS: '0',
        K8S_AUTH_SAR_ALLOW_TTL_SECONDS: '0',
      },
      () => allowed,
    );
    const app = Fastify();
    try {
      await auth.revocation?.watch.waitForSync();
      const options = auth.adapterOptions();
      expect(options.verifier).toBe(auth.revocation?.verifier);
      expect(options.access).toEqual(auth.config.access);
      await app.register(fastifyKubeAuth, options);
      app.get('/data', async () => 'ok');
      const get = async () => {
        const response = await app.inject({ url: '/data', headers: { authorization: `Bearer ${token}` } });
        return [
          response.statusCode,
          response.statusCode === 200 ? response.body : response.json<{ reason: string }>().reason,
        ];
      };
      expect(await get()).toEqual([200, 'ok']);
      allowed = false;
      expect(await get()).toEqual([403, 'subjectaccessreview_denied']);
      allowed = true;
      server.remove('/api/v1/namespaces/api/pods', 'api-7d4b9c-x2x9z');
      expect(await get()).toEqual([401, 'token_revoked']);
      expect(reviews.requests).toHaveLength(0);
      expect(sars).toHaveLength(2);
    } finally {
      await app.close();
      auth.close();
    }
  });

  it('refuses to build a revocation-sensitive route when revocation is none', async () => {
    const { auth } = await stack({ ...REQUIRED, K8S_AUTH_REVOCATION: 'none' });
    expect(() => auth.middleware({ revocationSensitive: true })).toThrow(ConfigError);
  });
});
