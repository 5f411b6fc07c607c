import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineDemoCases } from '../cases/demo-cases.js';
import { call } from '../cases/http.js';
import { ControlPlane } from '@kube-service-auth/testing';
import { LocalDeployment } from './local-deployment.js';

// The article's story, end to end: real kube-apiserver and etcd, the two demo services as real processes.
let controlPlane: ControlPlane;
let deployment: LocalDeployment;

beforeAll(async () => {
  controlPlane = await ControlPlane.start();
  deployment = await LocalDeployment.start(controlPlane);
});

afterAll(async () => {
  await deployment?.stop();
  await controlPlane?.stop();
});

describe('demo on the local control plane', () => {
  defineDemoCases(() => deployment);

  it('the API re-reads its token file on every request and says so', async () => {
    const api = deployment.services.get('api');
    const before = api?.records().filter((r) => r.msg === 'Refreshing service account token').length ?? 0;
    await call(deployment.apiUrls.variant2);
    await call(deployment.apiUrls.variant2);
    const after = api?.records().filter((r) => r.msg === 'Refreshing service account token').length ?? 0;
    expect(after - before).toBe(2);
  });

  it('the data store prints the review result as formatted JSON', async () => {
    const store = deployment.services.get('app');
    await call(deployment.apiUrls.variant2);
    const text = store?.lines.join('\n') ?? '';
    expect(text).toContain('"username": "system:serviceaccount:api:api"');
    expect(text).toContain('"audiences": [\n    "data-store"\n  ]');
  });

  it('no service ever writes a token to its output', () => {
    // Any JWS (header.payload starting with base64url "{") in any output line would be a leak.
    for (const [name, service] of deployment.services) {
      for (const line of service.lines) expect(line, name).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}/);
    }
  });
});
