import { describe, expect, it } from 'vitest';
import { admittedNamespaces } from './admitted-namespaces.js';

describe('admittedNamespaces', () => {
  it('collects the namespaces of identities, namespace wildcards and per-namespace groups', () => {
    expect(
      admittedNamespaces(['system:serviceaccount:api:api', 'api:worker', 'batch:*'], ['system:serviceaccounts:jobs']),
    ).toEqual(['api', 'batch', 'jobs']);
  });
  it('is undefined when any namespace can be admitted', () => {
    expect(admittedNamespaces(['api:api', '*'])).toBeUndefined();
    expect(admittedNamespaces(['api:api'], ['system:serviceaccounts'])).toBeUndefined();
    expect(admittedNamespaces([], ['system:authenticated'])).toBeUndefined();
  });
});
