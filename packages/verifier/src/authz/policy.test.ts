import { describe, expect, it } from 'vitest';
import { serviceAccountGroups, type ServiceAccountIdentity } from '../identity/identity.js';
import { Policy } from './policy.js';

function caller(
  namespace: string,
  name: string,
  groups: string[] = serviceAccountGroups(namespace),
): ServiceAccountIdentity {
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    namespace,
    serviceAccount: { name, uid: `uid-${name}` },
    groups,
    audiences: ['data-store'],
    verifiedBy: 'local',
  };
}

describe('Policy', () => {
  it('allows an identity listed in full (system:serviceaccount:<ns>:<name>) and names the rule', () => {
    const policy = new Policy({ allow: ['system:serviceaccount:api:api'] });
    expect(policy.decide(caller('api', 'api'))).toEqual({
      allowed: true,
      reason: 'identity_allowed',
      rule: 'system:serviceaccount:api:api',
    });
  });

  it('denies another ServiceAccount of the same namespace when only one is listed', () => {
    const policy = new Policy({ allow: ['system:serviceaccount:api:api'] });
    expect(policy.decide(caller('api', 'worker'))).toEqual({ allowed: false, reason: 'identity_not_allowed' });
  });

  it('denies the same name in another namespace', () => {
    const policy = new Policy({ allow: ['system:serviceaccount:api:api'] });
    expect(policy.decide(caller('web', 'api')).allowed).toBe(false);
  });

  it('allows the short form <ns>:<name>', () => {
    const policy = new Policy({ allow: ['api:api'] });
    expect(policy.decide(caller('api', 'api'))).toEqual({
      allowed: true,
      reason: 'identity_allowed',
      rule: 'system:serviceaccount:api:api',
    });
    expect(policy.decide(caller('api', 'other')).allowed).toBe(false);
  });

  it('allows any ServiceAccount of a namespace with <ns>:*', () => {
    const policy = new Policy({ allow: ['api:*'] });
    expect(policy.decide(caller('api', 'worker'))).toEqual({
      allowed: true,
      reason: 'identity_allowed',
      rule: 'system:serviceaccount:api:*',
    });
    expect(policy.decide(caller('api-2', 'worker')).allowed).toBe(false);
  });

  it('accepts the long form of a namespace wildcard', () => {
    const policy = new Policy({ allow: ['system:serviceaccount:api:*'] });
    expect(policy.decide(caller('api', 'anything')).allowed).toBe(true);
  });

  it('allows every ServiceAccount with *', () => {
    const policy = new Policy({ allow: ['*'] });
    expect(policy.decide(caller('kube-system', 'default'))).toEqual({
      allowed: true,
      reason: 'identity_allowed',
      rule: '*',
    });
  });

  it('allows a caller in an allowed group and names the group', () => {
    const policy = new Policy({ allowGroups: ['system:serviceaccounts:api'] });
    expect(policy.decide(caller('api', 'worker'))).toEqual({
      allowed: true,
      reason: 'group_allowed',
      rule: 'system:serviceaccounts:api',
    });
    expect(policy.decide(caller('web', 'worker')).allowed).toBe(false);
  });

  it('denies every caller when nothing is listed', () => {
    const policy = new Policy({});
    expect(policy.decide(caller('api', 'api'))).toEqual({ allowed: false, reason: 'identity_not_allowed' });
    expect(new Policy({ allow: [], allowGroups: [] }).decide(caller('default', 'default')).allowed).toBe(false);
  });

  it('trims whitespace around entries', () => {
    const policy = new Policy({ allow: ['  api:api  '], allowGroups: [' system:serviceaccounts:web '] });
    expect(policy.decide(caller('api', 'api')).allowed).toBe(true);
    expect(policy.decide(caller('web', 'x')).allowed).toBe(true);
  });

  it.each([
    'api',
    'api:',
    ':api',
    'API:api',
    'api:Api',
    'a:b:c',
    'system:serviceaccount:api',
    'system:serviceaccounts:api',
    '*:api',
    'api:na me',
    'api:**',
    '-api:api',
  ])('throws for the invalid pattern "%s"', (pattern) => {
    expect(() => new Policy({ allow: [pattern] })).toThrow();
  });

  it('parses comma-separated lists with fromLists', () => {
    const policy = Policy.fromLists(' api:api , web:* ,', 'system:serviceaccounts:batch');
    expect(policy.decide(caller('api', 'api')).allowed).toBe(true);
    expect(policy.decide(caller('web', 'frontend')).allowed).toBe(true);
    expect(policy.decide(caller('batch', 'job')).reason).toBe('group_allowed');
    expect(policy.decide(caller('api', 'worker')).allowed).toBe(false);
  });

  it('denies everything from empty lists with fromLists', () => {
    expect(Policy.fromLists(undefined, undefined).decide(caller('api', 'api')).allowed).toBe(false);
  });
});
