import {
  createKubeAuth,
  createKubeFetch,
  loadConfig,
  StaticTokenSource,
  SubjectAccessReviewer,
  type AccessAttributes,
  type KubeAuth,
} from '@kube-service-auth/verifier';
import { ClusterClient, ControlPlane } from '@kube-service-auth/testing';
import { fastifyKubeAuth } from '@kube-service-auth/verifier/fastify';
import { kubeAuthInterceptor } from '@kube-service-auth/verifier/grpc';
import Fastify, { type FastifyInstance } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EchoCaller, startEchoServer, WHO_AM_I, type EchoAnswer } from '../cases/grpc-echo.js';

// SubjectAccessReview through the fastify plugin (a listening server on 127.0.0.1) and the gRPC interceptor (a grpc-js
// server and plaintext client on 127.0.0.1), against the real kube-apiserver's RBAC: a Role in `data-store` grants
// `get records.data.example.com` to api:api and nothing to api:batch; both pass the allow-list (`api:*`), so RBAC
// alone decides. The data store asks with its own token (bound to system:auth-delegator), built the way a service
// builds it: createKubeAuth with the cluster's kubeconfig, then `auth.accessReviewer` handed to each adapter.

const READ: AccessAttributes = { verb: 'get', resource: 'records', group: 'data.example.com', namespace: 'data-store' };
const DELETE: AccessAttributes = { ...READ, verb: 'delete' };

let cp: ControlPlane;
let admin: ClusterClient;
let auth: KubeAuth;
let unprivileged: SubjectAccessReviewer;
let reader: string;
let batch: string;
const closers: Array<() => Promise<void> | void> = [];

async function podToken(serviceAccount: string, pod: string): Promise<string> {
  const uid = await admin.createPod('api', pod, serviceAccount, { nodeName: 'node-1' });
  return (
    await admin.requestToken({
      namespace: 'api',
      serviceAccount,
      audiences: ['data-store'],
      expirationSeconds: 3600,
      pod: { name: pod, uid },
    })
  ).token;
}

beforeAll(async () => {
  cp = await ControlPlane.start();
  admin = new ClusterClient(cp.kubeConfig());
  await admin.createNode('node-1');
  for (const ns of ['api', 'data-store']) await admin.applyNamespace(ns);
  for (const sa of ['api', 'batch']) await admin.createServiceAccount('api', sa);
  await admin.createServiceAccount('data-store', 'data-store');
  await admin.bindAuthDelegator('data-store', 'data-store');
  await admin.grantRole(
    'data-store',
    'records-reader',
    [{ apiGroups: ['data.example.com'], resources: ['records'], verbs: ['get'] }],
    [{ namespace: 'api', name: 'api' }],
  );
  const storeUid = await admin.createPod('data-store', 'app', 'data-store', { nodeName: 'node-1' });
  const storeToken = (
    await admin.requestToken({
      namespace: 'data-store',
      serviceAccount: 'data-store',
      expirationSeconds: 3600,
      pod: { name: 'app', uid: storeUid },
    })
  ).token;
  reader = await podToken('api', 'reader');
  batch = await podToken('batch', 'batch');
  auth = await createKubeAuth(
    loadConfig({
      K8S_AUTH_AUDIENCE: 'data-store',
      K8S_AUTH_ISSUER: cp.issuer,
      K8S_AUTH_ALLOWED_IDENTITIES: 'api:*',
      K8S_AUTH_REQUIRE_POD_BINDING: 'true',
      K8S_AUTH_CA_FILE: 'none',
      K8S_AUTH_TOKEN_FILE: 'none',
      // Every answer asked afresh, so that a change of RBAC shows on the next request.
      K8S_AUTH_SAR_ALLOW_TTL_SECONDS: '0',
      K8S_AUTH_SAR_DENY_TTL_SECONDS: '0',
    }),
    {
      kubeConfig: cp.kubeConfigForToken(storeToken),
      fetch: createKubeFetch({ caPem: cp.caPem, tokenSource: new StaticTokenSource(storeToken) }),
    },
  );
  // The caller's own token: not bound to system:auth-delegator, so it may not ask.
  unprivileged = new SubjectAccessReviewer({
    client: cp.kubeConfigForToken(reader),
    allowTtlSeconds: 0,
    denyTtlSeconds: 0,
  });
});

afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await cp?.stop();
});

async function fastifyServer(reviewer: SubjectAccessReviewer | undefined): Promise<string> {
  const app: FastifyInstance = Fastify();
  closers.push(() => app.close());
  await app.register(fastifyKubeAuth, { verifier: auth.verifier, policy: auth.policy, accessReviewer: reviewer });
  app.get('/records', { config: { kubeAuth: { access: READ } } }, async (request) => ({
    username: request.kubeAuth?.identity.username,
  }));
  app.delete('/records', { config: { kubeAuth: { access: DELETE } } }, async () => ({ deleted: true }));
  return app.listen({ host: '127.0.0.1', port: 0 });
}

async function httpCall(
  base: string,
  method: 'GET' | 'DELETE',
  token: string,
): Promise<{ status: number; reason: string | null; username?: string }> {
  const res = await fetch(`${base}/records`, { method, headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { reason?: string; username?: string };
  return { status: res.status, reason: body.reason ?? null, ...(body.username ? { username: body.username } : {}) };
}

/** A grpc-js server whose one method is guarded with `access`, and a plaintext client for it. */
async function grpcCaller(reviewer: SubjectAccessReviewer | undefined, access: AccessAttributes): Promise<EchoCaller> {
  const server = await startEchoServer([
    kubeAuthInterceptor({
      verifier: auth.verifier,
      policy: auth.policy,
      accessReviewer: reviewer,
      methods: (path) => (path === WHO_AM_I ? { access } : undefined),
    }),
  ]);
  const caller = new EchoCaller(server.address);
  closers.push(server.stop, () => caller.close());
  return caller;
}

const grpcCall = (caller: EchoCaller, token: string): Promise<EchoAnswer> =>
  caller.whoAmI({ authorization: `Bearer ${token}` });

describe('SubjectAccessReview per route in the fastify plugin, against the real RBAC', () => {
  it('allows what the Role grants, refuses what it does not (403 subjectaccessreview_denied)', async () => {
    const base = await fastifyServer(auth.accessReviewer);
    expect(await httpCall(base, 'GET', reader)).toEqual({
      status: 200,
      reason: null,
      username: 'system:serviceaccount:api:api',
    });
    expect(await httpCall(base, 'DELETE', reader)).toEqual({ status: 403, reason: 'subjectaccessreview_denied' });
    expect(await httpCall(base, 'GET', batch)).toEqual({ status: 403, reason: 'subjectaccessreview_denied' });
  });

  it('answers 503 subjectaccessreview_unavailable when the service may not ask (no system:auth-delegator)', async () => {
    const base = await fastifyServer(unprivileged);
    expect(await httpCall(base, 'GET', reader)).toEqual({ status: 503, reason: 'subjectaccessreview_unavailable' });
  });
});

describe('SubjectAccessReview per method in the gRPC interceptor, against the real RBAC', () => {
  it('allows what the Role grants, refuses what it does not (PERMISSION_DENIED)', async () => {
    const read = await grpcCaller(auth.accessReviewer, READ);
    const write = await grpcCaller(auth.accessReviewer, DELETE);
    expect(await grpcCall(read, reader)).toEqual({ ok: true, username: 'system:serviceaccount:api:api' });
    expect(await grpcCall(write, reader)).toEqual({ ok: false, code: 7, details: 'subjectaccessreview_denied' });
    expect(await grpcCall(read, batch)).toEqual({ ok: false, code: 7, details: 'subjectaccessreview_denied' });
  });

  it('ends the call UNAVAILABLE subjectaccessreview_unavailable when the service may not ask', async () => {
    const read = await grpcCaller(unprivileged, READ);
    expect(await grpcCall(read, reader)).toEqual({ ok: false, code: 14, details: 'subjectaccessreview_unavailable' });
  });
});

describe('RBAC changes show through both adapters', () => {
  it('refuses the reader once its RoleBinding is deleted', async () => {
    const base = await fastifyServer(auth.accessReviewer);
    const read = await grpcCaller(auth.accessReviewer, READ);
    expect((await httpCall(base, 'GET', reader)).status).toBe(200);
    await admin.rbac.deleteNamespacedRoleBinding({ namespace: 'data-store', name: 'records-reader' });
    // The API server's RBAC authorizer learns of the deletion through its informer: within moments, not at once.
    const deadline = Date.now() + 10_000;
    while ((await httpCall(base, 'GET', reader)).status === 200) {
      if (Date.now() > deadline) throw new Error('the deleted RoleBinding still grants after 10 s');
      await sleep(50);
    }
    expect(await httpCall(base, 'GET', reader)).toEqual({ status: 403, reason: 'subjectaccessreview_denied' });
    expect(await grpcCall(read, reader)).toEqual({ ok: false, code: 7, details: 'subjectaccessreview_denied' });
  });
});
