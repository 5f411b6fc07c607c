import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';
import { CONNECTION_ENV, ControlPlane, TestCluster } from '@kube-service-auth/testing';

// `node --test`: one control plane per file here (a few seconds warm), or the run's one when a global setup
// (`--test-global-setup`, Node >= 24, exporting globalSetup/globalTeardown from '@kube-service-auth/testing/global-setup')
// has set KSA_TESTING_CONTROL_PLANE.
let plane: ControlPlane | undefined;
let cluster: TestCluster;

before(async () => {
  if (process.env[CONNECTION_ENV]) cluster = TestCluster.fromEnv();
  else cluster = (plane = await ControlPlane.start()).cluster();
});
after(() => plane?.stop());

test('a pod-bound token authenticates until its pod is deleted', async () => {
  const ns = await cluster.createNamespace();
  const [sa] = await ns.createServiceAccounts('api');
  const live = await ns.createPod('api-0', { serviceAccount: sa });
  const doomed = await ns.createPod('api-1', { serviceAccount: sa });
  const doomedToken = await doomed.token({ audiences: ['store'] });
  await doomed.delete();
  assert.equal((await cluster.reviewToken(await live.token({ audiences: ['store'] }), ['store'])).authenticated, true);
  // Never reviewed before the deletion, so not in the API server's 10 s cache of successful authentications.
  assert.equal((await cluster.reviewToken(doomedToken, ['store'])).authenticated ?? false, false);
});
