import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  Server,
  ServerCredentials,
  status,
  type Client,
  type Interceptor,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { AuthDecisionEvent, CommonAuthOptions } from './authenticate.js';
import type { KubeAuthAdapterOptions } from '../config/kube-auth.js';
import { KubeAuthError } from '../errors.js';
import { kubeAuthInterceptor, kubeAuthOf, serviceAccountTokenInterceptor, type GrpcKubeAuthOptions } from './grpc.js';
import { LocalVerifier } from '../authn/local-verifier.js';
import { Policy } from '../authz/policy.js';
import { SubjectAccessReviewer } from '../authz/subject-access-review.js';
import type { SubjectAccessReviewClient } from '../kube/review-clients.js';
import {
  AUDIENCE,
  fakeClock,
  FakeIssuer,
  generateTestKey,
  ISSUER,
  signToken,
  T0,
  type TestKey,
} from '../../test/fake-issuer.js';
import { FileTokenSource, StaticTokenSource } from '../client/token-source.js';
import { type Verifier, type VerifyOptions } from '../authn/verifier.js';
import { ServiceAccountVerifier } from '../authn/service-account-verifier.js';
import { stubVerifier } from '../../test/stub-verifier.js';

// The interceptor in a grpc-js server on 127.0.0.1, called by a grpc-js client over a plaintext channel.

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};
const method = (path: string) => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
});
const definition = { whoAmI: method('/test.Echo/WhoAmI'), health: method('/test.Echo/Health') };
const EchoClient = makeGenericClientConstructor(definition, 'Echo');

let rsa: TestKey;
let good: string;
let forged: string;
let stranger: string;
const servers: Server[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  rsa = await generateTestKey('RS256', 'rsa-1');
  good = await signToken(rsa);
  forged = await signToken(await generateTestKey('RS256', 'rsa-1'));
  stranger = await signToken(rsa, { namespace: 'web', serviceAccount: 'frontend' });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.tryShutdown(() => resolve()))));
});

function localVerifier(seen?: Array<VerifyOptions | undefined>): Verifier {
  const local = new LocalVerifier({
    issuers: [ISSUER],
    audience: AUDIENCE,
    fetch: new FakeIssuer({ keys: [rsa] }).fetch,
    clock: fakeClock().clock,
  });
  return stubVerifier({
    verify: (token, options) => {
      seen?.push(options);
      return local.verify(token);
    },
  });
}

async function serve(
  options: Partial<GrpcKubeAuthOptions> = {},
  clientInterceptors: Interceptor[] = [],
): Promise<Client> {
  const server = new Server({
    interceptors: [
      kubeAuthInterceptor({ verifier: localVerifier(), policy: new Policy({ allow: ['api:api'] }), ...options }),
    ],
  });
  const impl: UntypedServiceImplementation = {
    whoAmI: (call: { metadata: Metadata }, callback: (err: null, value: unknown) => void) =>
      callback(null, kubeAuthOf(call) ?? null),
    health: (call: { metadata: Metadata }, callback: (err: null, value: unknown) => void) =>
      callback(null, { ok: true, kubeAuth: kubeAuthOf(call) ?? null }),
  };
  server.addService(definition, impl);
  servers.push(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new EchoClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    interceptors: clientInterceptors,
  });
  clients.push(client);
  return client;
}

type Answer =
  | { ok: true; value: { identity?: { username: string }; decision?: unknown; ok?: boolean } | null }
  | { ok: false; code: number; details: string; reason: unknown };

function unary(
  client: Client,
  name: 'whoAmI' | 'health',
  token?: string | string[],
  key = 'authorization',
): Promise<Answer> {
  const metadata = new Metadata();
  for (const t of typeof token === 'string' ? [token] : (token ?? [])) metadata.add(key, t);
  return new Promise((resolve) => {
    (
      client as unknown as Record<
        string,
        (req: unknown, md: Metadata, cb: (err: ServiceError | null, v: unknown) => void) => void
      >
    )[name]!({}, metadata, (err, value) => {
      if (err)
        resolve({ ok: false, code: err.code, details: err.details, reason: err.metadata.get('kube-auth-reason')[0] });
      else resolve({ ok: true, value: value as never });
    });
  });
}

// Checked by the compiler (the test build): the interceptor takes the options every adapter shares, so that what
// `KubeAuth.adapterOptions()` gives fits it as it fits the fastify plugin.
it('takes the options every adapter shares, and what adapterOptions() gives', () => {
  expectTypeOf<GrpcKubeAuthOptions>().toExtend<CommonAuthOptions>();
  expectTypeOf<KubeAuthAdapterOptions>().toExtend<GrpcKubeAuthOptions>();
  expectTypeOf<GrpcKubeAuthOptions>().not.toHaveProperty('realm');
});

describe('gRPC server interceptor', () => {
  it('lets an allowed caller through and hands its identity to the handler', async () => {
    const client = await serve();
    const answer = await unary(client, 'whoAmI', `Bearer ${good}`);
    expect(answer).toMatchObject({
      ok: true,
      value: { identity: { username: 'system:serviceaccount:api:api' }, decision: { reason: 'identity_allowed' } },
    });
  });

  it('maps every kind of reason to its status: UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE', async () => {
    const client = await serve();
    expect(await unary(client, 'whoAmI')).toEqual({
      ok: false,
      code: status.UNAUTHENTICATED,
      details: 'token_missing',
      reason: 'token_missing',
    });
    expect(await unary(client, 'whoAmI', `Bearer ${forged}`)).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: 'signature_invalid',
    });
    expect(await unary(client, 'whoAmI', good)).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: 'token_malformed',
    });
    expect(await unary(client, 'whoAmI', `Bearer ${stranger}`)).toMatchObject({
      code: status.PERMISSION_DENIED,
      details: 'identity_not_allowed',
    });
    for (const [error, reason] of [
      [new KubeAuthError('tokenreview_unavailable'), 'tokenreview_unavailable'],
      [new RangeError('bug'), 'internal_error'],
    ] as const) {
      const failing = await serve({ verifier: stubVerifier({ verify: () => Promise.reject(error) }) });
      expect(await unary(failing, 'whoAmI', `Bearer ${good}`)).toMatchObject({
        ok: false,
        code: status.UNAVAILABLE,
        details: reason,
      });
    }
  });

  it('answers from an identity the verifier returns synchronously (a cache hit), without its promise path', async () => {
    const local = new LocalVerifier({
      issuers: [ISSUER],
      audience: AUDIENCE,
      fetch: new FakeIssuer({ keys: [rsa] }).fetch,
      clock: fakeClock().clock,
    });
    const identity = await local.verify(good);
    const client = await serve({
      verifier: stubVerifier({
        verify: () => Promise.reject(new Error('the promise path was used')),
        check: () => identity,
      }),
    });
    expect(await unary(client, 'whoAmI', `Bearer ${good}`)).toMatchObject({
      ok: true,
      value: { identity: { username: 'system:serviceaccount:api:api' } },
    });
  });

  it('reads a raw token from a configured metadata key', async () => {
    const client = await serve({ key: 'x-client-id' });
    expect(await unary(client, 'whoAmI', good, 'x-client-id')).toMatchObject({ ok: true });
    expect(await unary(client, 'whoAmI', `Bearer ${good}`)).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: 'token_missing',
    });
    // grpc-js refuses to send two authorization values itself; a custom key may carry two, and two are refused.
    expect(await unary(client, 'whoAmI', [good, good], 'x-client-id')).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: 'token_malformed',
    });
  });

  it('per-method options: an unguarded method, a revocation-sensitive one', async () => {
    const seen: Array<VerifyOptions | undefined> = [];
    const client = await serve({
      verifier: localVerifier(seen),
      methods: (path) => (path === '/test.Echo/Health' ? false : { revocationSensitive: true }),
    });
    expect(await unary(client, 'health')).toEqual({ ok: true, value: { ok: true, kubeAuth: null } });
    expect(await unary(client, 'whoAmI', `Bearer ${good}`)).toMatchObject({ ok: true });
    expect(seen).toEqual([{ revocationSensitive: true }]);
  });

  it('per-method options as a record, checked at construction: an unguarded method, a revocation-sensitive one', async () => {
    const seen: Array<VerifyOptions | undefined> = [];
    const client = await serve({
      verifier: localVerifier(seen),
      methods: { '/test.Echo/Health': false, '/test.Echo/WhoAmI': { revocationSensitive: true } },
    });
    expect(await unary(client, 'health')).toEqual({ ok: true, value: { ok: true, kubeAuth: null } });
    expect(await unary(client, 'whoAmI', `Bearer ${good}`)).toMatchObject({ ok: true });
    expect(seen).toEqual([{ revocationSensitive: true }]);
  });

  it('reports each decision with the method path, never the token', async () => {
    const events: AuthDecisionEvent[] = [];
    const client = await serve({ onDecision: (e) => events.push(e) });
    await unary(client, 'whoAmI', `Bearer ${good}`);
    await unary(client, 'whoAmI', `Bearer ${stranger}`);
    expect(events.map((e) => [e.outcome, e.reason, e.method, e.path])).toEqual([
      ['allowed', 'identity_allowed', 'grpc', '/test.Echo/WhoAmI'],
      ['rejected', 'identity_not_allowed', 'grpc', '/test.Echo/WhoAmI'],
    ]);
    expect(JSON.stringify(events)).not.toContain(good.split('.')[2]);
  });
});

describe('gRPC server interceptor: SubjectAccessReview', () => {
  const READ = { verb: 'get', resource: 'records', group: 'data.example.com', namespace: 'data-store' };
  function rbac(state: { down?: boolean } = {}): SubjectAccessReviewer {
    const client: SubjectAccessReviewClient = {
      async createSubjectAccessReview(review) {
        if (state.down) throw new Error('connect ECONNREFUSED');
        return { ...review, status: { allowed: review.spec?.resourceAttributes?.verb === 'get' } };
      },
    };
    return new SubjectAccessReviewer({ client, allowTtlSeconds: 0, denyTtlSeconds: 0 });
  }

  it("asks RBAC with each method's attributes (or the interceptor's): PERMISSION_DENIED, UNAVAILABLE", async () => {
    const state: { down?: boolean } = {};
    const client = await serve({
      access: READ,
      accessReviewer: rbac(state),
      methods: (path) => (path === '/test.Echo/Health' ? { access: { ...READ, verb: 'delete' } } : undefined),
    });
    expect(await unary(client, 'whoAmI', `Bearer ${good}`)).toMatchObject({
      ok: true,
      value: { identity: { username: 'system:serviceaccount:api:api' } },
    });
    expect(await unary(client, 'health', `Bearer ${good}`)).toEqual({
      ok: false,
      code: status.PERMISSION_DENIED,
      details: 'subjectaccessreview_denied',
      reason: 'subjectaccessreview_denied',
    });
    state.down = true;
    expect(await unary(client, 'whoAmI', `Bearer ${good}`)).toMatchObject({
      ok: false,
      code: status.UNAVAILABLE,
      details: 'subjectaccessreview_unavailable',
    });
  });

  it('attributes without a reviewer: refused at construction (options, or a methods record), a late method refuses every call', async () => {
    const policy = new Policy({ allow: ['api:api'] });
    expect(() => kubeAuthInterceptor({ verifier: localVerifier(), policy, access: READ })).toThrow(/accessReviewer/);
    expect(() =>
      kubeAuthInterceptor({ verifier: localVerifier(), policy, methods: { '/test.Echo/WhoAmI': { access: READ } } }),
    ).toThrow(/accessReviewer/);
    // Named by a function, the method is only known on its first call: refused as misconfigured (not retryable).
    const client = await serve({ methods: () => ({ access: READ }) });
    expect(await unary(client, 'whoAmI', `Bearer ${good}`)).toMatchObject({
      ok: false,
      code: status.INTERNAL,
      details: 'route_misconfigured',
    });
  });

  it('revocation-sensitive without TokenReview: the interceptor is refused at construction, a method refuses every call', async () => {
    const local = new LocalVerifier({
      issuers: [ISSUER],
      audience: AUDIENCE,
      fetch: new FakeIssuer({ keys: [rsa] }).fetch,
      clock: fakeClock().clock,
    });
    const verifier = new ServiceAccountVerifier({ mode: 'local', local });
    const policy = new Policy({ allow: ['api:api'] });
    expect(() => kubeAuthInterceptor({ verifier, policy, revocationSensitive: true })).toThrow(/TokenReview/);
    expect(() =>
      kubeAuthInterceptor({ verifier, policy, methods: { '/test.Echo/WhoAmI': { revocationSensitive: true } } }),
    ).toThrow(/TokenReview/);
    const client = await serve({ verifier, methods: () => ({ revocationSensitive: true }) });
    expect(await unary(client, 'whoAmI', `Bearer ${good}`)).toMatchObject({
      ok: false,
      code: status.INTERNAL,
      details: 'route_misconfigured',
    });
    const plain = await serve({ verifier });
    expect(await unary(plain, 'whoAmI', `Bearer ${good}`)).toMatchObject({ ok: true });
  });
});

describe('gRPC client interceptor', () => {
  it('attaches the token of a FileTokenSource over a plaintext channel, and the rotated one after the file changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ksa-grpc-'));
    try {
      const file = join(dir, 'token');
      await writeFile(file, good);
      // The test tokens are minted at T0; the source judges their expiry on the same clock.
      const source = new FileTokenSource({ path: file, clock: () => T0 });
      const client = await serve({}, [serviceAccountTokenInterceptor(source)]);
      expect(await unary(client, 'whoAmI')).toMatchObject({
        ok: true,
        value: { identity: { username: 'system:serviceaccount:api:api' } },
      });
      await writeFile(file, stranger);
      expect(await unary(client, 'whoAmI')).toMatchObject({ ok: false, code: status.PERMISSION_DENIED });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a raw key carries the bare token', async () => {
    const client = await serve({ key: 'x-client-id' }, [
      serviceAccountTokenInterceptor(new StaticTokenSource(good), { key: 'x-client-id' }),
    ]);
    expect(await unary(client, 'whoAmI')).toMatchObject({ ok: true });
  });

  it('fails the call UNAVAILABLE, sending nothing, when the token cannot be read', async () => {
    let reached = 0;
    const client = await serve(
      {
        verifier: stubVerifier({
          verify: () => {
            reached++;
            return Promise.reject(new Error('unreachable'));
          },
        }),
      },
      [serviceAccountTokenInterceptor(new FileTokenSource({ path: '/nonexistent/token' }))],
    );
    const answer = await unary(client, 'whoAmI');
    expect(answer).toMatchObject({ ok: false, code: status.UNAVAILABLE });
    expect((answer as { details: string }).details).toContain('token_file_missing');
    expect(reached).toBe(0);
  });
});
