import { describe, expect, it } from 'vitest';
import { FakeIssuer } from '../../test/fake-issuer.js';
import { loadConfig } from './env.js';
import { createKubeAuth } from './kube-auth.js';

// This file imports no adapter (vitest isolates test files): config alone loads no framework code, and
// auth.middleware() says what to import instead of failing with "not a function".
describe('KubeAuth without the express entry', () => {
  it('middleware() explains that the express entry must be imported (for its effect, not as a type)', async () => {
    const auth = await createKubeAuth(
      loadConfig({
        K8S_AUTH_AUDIENCE: 'data-store',
        K8S_AUTH_ALLOWED_IDENTITIES: 'api:api',
        K8S_AUTH_CA_FILE: 'none',
        K8S_AUTH_TOKEN_FILE: 'none',
        K8S_AUTH_KUBECONFIG: 'none',
      }),
      { fetch: new FakeIssuer().fetch },
    );
    expect(() => auth.middleware()).toThrow(/import '@kube-service-auth\/verifier\/express'/);
    // The other adapters take adapterOptions() as they are.
    expect(Object.keys(auth.adapterOptions()).sort()).toEqual([
      'accessReviewer',
      'maxTokenBytes',
      'policy',
      'verifier',
    ]);
  });
});
