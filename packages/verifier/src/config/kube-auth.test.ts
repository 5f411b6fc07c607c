import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import '../adapters/express.js';
import Fastify from 'fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { createKubeAuth, kubeAuthFromEnv } from './kube-auth.js';
import { loadConfig } from './env.js';
import type { VerifierEvent } from '../events.js';
import { fastifyKubeAuth } from '../adapters/fastify.js';
import {
  AUDIENCE,
  fakeClock,
  FakeIssuer,
  FakeTokenReviewClient,
  generateTestKey,
  ISSUER,
  signToken,
  type TestKey,
} from '../../test/fake-issuer.js';
import { FakeMetadataServer } from '../../test/fake-metadata-server.js';

const REQUIRED = { K8S_AUTH_AUDIENCE: 'data-store', K8S_AUTH_ALLOWED_IDENTITIES: 'system:serviceaccount:api:api' };

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kube-auth-config-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
