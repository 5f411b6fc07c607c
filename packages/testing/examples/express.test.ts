import type { AddressInfo } from 'node:net';
import express from 'express';
import { TestCluster } from '@kube-service-auth/testing';
import { kubeAuthFromEnv } from '@kube-service-auth/verifier';
import '@kube-service-auth/verifier/express';
import { expect, test } from 'vitest';

test('api gets in, another ServiceAccount is forbidden, a deleted pod is refused where revocation matters', async () => {
  const ns = await TestCluster.fromEnv().createNamespace(); // the control plane of the global setup
  const [api, other, store] = await ns.createServiceAccounts('api', 'other', 'store');
  await store.grantAuthDelegator(); // TokenReview, for the revocation-sensitive route
  const credentials = await (await ns.createPod('store', { serviceAccount: store })).inClusterCredentials();
  const auth = await kubeAuthFromEnv({
    ...credentials.env,
    K8S_AUTH_AUDIENCE: 'store',
    K8S_AUTH_ALLOWED_IDENTITIES: api.username,
  });
  const app = express()
    .get('/data', auth.middleware(), (_req, res) => res.send('data'))
    .get('/delete-all', auth.middleware({ revocationSensitive: true }), (_req, res) => res.send('done'));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const call = (path: string, token: string) =>
    fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    }).then((r) => r.status);

  const apiPod = await ns.createPod('api-0', { serviceAccount: api });
  const token = await apiPod.token({ audiences: ['store'] });
  expect(await call('/data', token)).toBe(200);
  expect(await call('/data', await other.token({ audiences: ['store'] }))).toBe(403);
  await apiPod.delete();
  expect(await call('/data', token)).toBe(200); // verified offline: valid until it expires
  expect(await call('/delete-all', token)).toBe(401); // TokenReview: the pod is gone

  server.close();
  credentials.stop();
});
