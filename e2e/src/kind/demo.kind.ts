import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineDemoCases } from '../cases/demo-cases.js';
import { call, TEXT } from '../cases/http.js';
import { run } from './exec.js';
import { KindTarget } from './kind-target.js';
import { detectContainerRuntime } from './tools.js';

// Run by `pnpm e2e` after it created the cluster and deployed the demo; it passes the cluster in these variables.
const kubeconfig = process.env.KSA_KIND_KUBECONFIG;
const context = process.env.KSA_KIND_CONTEXT ?? 'kind-kube-service-auth';
const runtime = await detectContainerRuntime(run);
const skipReason = !runtime.available
  ? runtime.reason
  : !kubeconfig
    ? 'no kind cluster (KSA_KIND_KUBECONFIG is not set: run `pnpm e2e`)'
    : undefined;
if (skipReason) console.log(`[kind] skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)(skipReason ? `demo on kind (skipped: ${skipReason})` : 'demo on kind', () => {
  let target: KindTarget;

  beforeAll(async () => {
    target = await KindTarget.start({
      connection: { kubeconfig: kubeconfig as string, context },
      log: (line) => process.stderr.write(`[kind] ${line}\n`),
    });
  });

  afterAll(() => {
    target?.stop();
  });

  it('the intruder workload, with a valid data-store token of another ServiceAccount, is refused', async () => {
    const res = await call(target.intruderUrl);
    expect(res).toMatchObject({ status: 403, body: TEXT.invalid });
  });

  defineDemoCases(() => target);

  it('the API logs "Refreshing service account token" and no pod ever logs a token', async () => {
    await call(target.apiUrls.variant2);
    const api = await target.logs('api', 'app=api');
    expect(api).toContain('Refreshing service account token');
    for (const [namespace, selector] of [
      ['api', 'app.kubernetes.io/part-of=kube-service-auth'],
      ['data-store', 'app.kubernetes.io/part-of=kube-service-auth'],
    ] as const) {
      expect(await target.logs(namespace, selector), namespace).not.toMatch(
        /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}/,
      );
    }
  });

  it('the data store prints the review result as formatted JSON', async () => {
    await call(target.apiUrls.variant2);
    const store = await target.logs('data-store', 'app=app');
    expect(store).toContain('"username": "system:serviceaccount:api:api"');
  });
});
