import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import '../adapters/express.js';
import { fastifyKubeAuth } from '../adapters/fastify.js';
import { kubeAuthInterceptor } from '../adapters/grpc.js';
import type { AccessAttributes } from '../authz/subject-access-review.js';
import { ConfigError } from '../errors.js';
import { FakeIssuer, FakeTokenReviewClient } from '../../test/fake-issuer.js';
import { loadConfig } from './env.js';
import { createKubeAuth, type KubeAuth } from './kube-auth.js';

// A route that cannot work stops the service where it is declared, with the same ConfigError in every adapter:
// express's middleware(), the fastify plugin's route options, the gRPC interceptor's options and methods record.

const ENV = {
  K8S_AUTH_AUDIENCE: 'data-store',
  K8S_AUTH_ALLOWED_IDENTITIES: 'api:api',
  K8S_AUTH_CA_FILE: 'none',
  K8S_AUTH_TOKEN_FILE: 'none',
};
const READ: AccessAttributes = { verb: 'get', resource: 'records', group: 'data.example.com' };

type Route = { revocationSensitive?: boolean; access?: AccessAttributes };

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** What each adapter throws when a route with `route` options is declared. */
async function refusals(auth: KubeAuth, route: Route): Promise<Record<string, unknown>> {
  const app = Fastify();
  try {
    await app.register(fastifyKubeAuth, { ...auth.adapterOptions(), header: auth.config.header });
    return {
      express: thrown(() => auth.middleware(route)),
      fastify: thrown(() => app.get('/route', { config: { kubeAuth: route } }, async () => 'ok')),
      grpc: thrown(() => kubeAuthInterceptor({ ...auth.adapterOptions(), ...route })),
      grpcMethod: thrown(() => kubeAuthInterceptor({ ...auth.adapterOptions(), methods: { '/a.B/C': route } })),
    };
  } finally {
    await app.close();
  }
}

function expectSameConfigError(errors: Record<string, unknown>, variable: string): void {
  const first = errors.express as ConfigError;
  expect(first).toBeInstanceOf(ConfigError);
  expect(first.variable).toBe(variable);
  for (const [adapter, error] of Object.entries(errors)) {
    expect({ adapter, error }).toEqual({ adapter, error: first });
    expect(error).toBeInstanceOf(ConfigError);
  }
}

describe('start-up checks: one place, the same ConfigError for express, fastify and gRPC', () => {
  it('a revocation-sensitive route without any API server names K8S_AUTH_KUBECONFIG', async () => {
    const auth = await createKubeAuth(loadConfig({ ...ENV, K8S_AUTH_KUBECONFIG: 'none' }), {
      fetch: new FakeIssuer().fetch,
    });
    expectSameConfigError(await refusals(auth, { revocationSensitive: true }), 'K8S_AUTH_KUBECONFIG');
    // A plain route is fine in every adapter.
    expect(Object.values(await refusals(auth, {}))).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('a revocation-sensitive route with K8S_AUTH_REVOCATION=none names it, even with a working TokenReview', async () => {
    const client = new FakeTokenReviewClient();
    const auth = await createKubeAuth(loadConfig({ ...ENV, K8S_AUTH_REVOCATION: 'none' }), {
      fetch: new FakeIssuer().fetch,
      tokenReviewClient: client,
      subjectAccessReviewClient: { createSubjectAccessReview: () => Promise.reject(new Error('not asked')) },
    });
    expectSameConfigError(await refusals(auth, { revocationSensitive: true }), 'K8S_AUTH_REVOCATION');
    // Nothing asks TokenReview in that mode: not even a hand-made call that says it is revocation-sensitive.
    expect(auth.verifier.canReview).toBe(false);
    expect(client.requests).toEqual([]);
  });

  it('a route with its own access attributes without any API server names K8S_AUTH_KUBECONFIG', async () => {
    const auth = await createKubeAuth(loadConfig({ ...ENV, K8S_AUTH_KUBECONFIG: 'none' }), {
      fetch: new FakeIssuer().fetch,
    });
    expectSameConfigError(await refusals(auth, { access: READ }), 'K8S_AUTH_KUBECONFIG');
  });

  it('with TokenReview configured, every adapter accepts the revocation-sensitive route', async () => {
    const auth = await createKubeAuth(loadConfig(ENV), {
      fetch: new FakeIssuer().fetch,
      tokenReviewClient: new FakeTokenReviewClient(),
      subjectAccessReviewClient: { createSubjectAccessReview: () => Promise.reject(new Error('not asked')) },
    });
    expect(Object.values(await refusals(auth, { revocationSensitive: true }))).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
