import { beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticate, type AuthDecisionEvent, type Authentication } from './authenticate.js';
import { KubeAuthError, REASONS, type ReasonCode } from '../errors.js';
import { grpcAnswer, httpAnswer } from './answers.js';
import { LocalVerifier } from '../authn/local-verifier.js';
import { Policy } from '../authz/policy.js';
import {
  AUDIENCE,
  fakeClock,
  FakeIssuer,
  generateTestKey,
  ISSUER,
  signToken,
  type TestKey,
} from '../../test/fake-issuer.js';
import type { Verifier } from '../authn/verifier.js';
import { stubVerifier } from '../../test/stub-verifier.js';

let rsa: TestKey;
let good: string;
let stranger: string;

beforeAll(async () => {
  rsa = await generateTestKey('RS256', 'rsa-1');
  good = await signToken(rsa);
  stranger = await signToken(rsa, { namespace: 'web', serviceAccount: 'frontend' });
});

function verifier(): Verifier {
  const local = new LocalVerifier({
    issuers: [ISSUER],
    audience: AUDIENCE,
    fetch: new FakeIssuer({ keys: [rsa] }).fetch,
    clock: fakeClock().clock,
  });
  return stubVerifier({ verify: (t) => local.verify(t), check: (t) => local.check(t) });
}

describe('createAuthenticate: plain inputs, typed outcomes', () => {
  it('accepts an allowed caller with its identity and decision; a repeat caller synchronously, the same frozen object', async () => {
    const authenticate = createAuthenticate({ verifier: verifier(), policy: new Policy({ allow: ['api:api'] }) });
    const first = authenticate({ token: `Bearer ${good}` });
    expect(first).toBeInstanceOf(Promise);
    const accepted = (await first) as Extract<Authentication, { ok: true }>;
    expect(accepted).toMatchObject({
      ok: true,
      identity: { username: 'system:serviceaccount:api:api' },
      decision: { reason: 'identity_allowed' },
    });
    const again = authenticate({ token: `Bearer ${good}` });
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toBe(accepted);
    expect(Object.isFrozen(again)).toBe(true);
  });

  it('refuses with the reason, its kind and both answers', async () => {
    const authenticate = createAuthenticate({
      verifier: verifier(),
      policy: new Policy({ allow: ['api:api'] }),
      realm: 'store',
    });
    expect(await authenticate({ token: undefined })).toMatchObject({
      ok: false,
      reason: 'token_missing',
      kind: 'unauthenticated',
      http: {
        status: 401,
        headers: { 'WWW-Authenticate': 'Bearer realm="store"' },
        body: { error: 'unauthorized', reason: 'token_missing' },
      },
      grpc: { code: 16, name: 'UNAUTHENTICATED', details: 'token_missing' },
    });
    const refused = await authenticate({ token: `Bearer ${stranger}` });
    expect(refused).toMatchObject({
      ok: false,
      reason: 'identity_not_allowed',
      kind: 'forbidden',
      identity: { namespace: 'web' },
      http: { status: 403 },
      grpc: { name: 'PERMISSION_DENIED' },
    });
    expect(await authenticate({ token: [`Bearer ${good}`, `Bearer ${good}`] })).toMatchObject({
      ok: false,
      reason: 'token_malformed',
    });
  });

  it('turns a failing verifier into internal_error, never a pass and never a throw', async () => {
    const authenticate = createAuthenticate({
      verifier: stubVerifier({ verify: () => Promise.reject(new Error('boom')) }),
      policy: new Policy({ allow: ['*'] }),
    });
    expect(await authenticate({ token: `Bearer ${good}` })).toMatchObject({
      ok: false,
      reason: 'internal_error',
      kind: 'unavailable',
      http: { status: 503 },
      grpc: { name: 'UNAVAILABLE' },
    });
  });

  it('reports the decision with method and path', async () => {
    const events: AuthDecisionEvent[] = [];
    const authenticate = createAuthenticate({
      verifier: verifier(),
      policy: new Policy({ allow: ['api:api'] }),
      onDecision: (e) => events.push(e),
    });
    await authenticate({ token: `Bearer ${good}`, method: 'GET', path: '/data' });
    expect(events).toMatchObject([{ outcome: 'allowed', reason: 'identity_allowed', method: 'GET', path: '/data' }]);
  });
});

describe('answers for every reason', () => {
  it('HTTP status and gRPC code follow the kind of each reason', () => {
    const expected = {
      unauthenticated: [401, 16],
      invalid: [401, 16],
      forbidden: [403, 7],
      unavailable: [503, 14],
      misconfigured: [500, 13],
    } as const;
    for (const code of Object.keys(REASONS) as ReasonCode[]) {
      const error = new KubeAuthError(code);
      expect([httpAnswer(error).status, grpcAnswer(error).code, grpcAnswer(error).details], code).toEqual([
        ...expected[error.kind],
        code,
      ]);
    }
  });

  it('a raw token scheme gets no challenge', () => {
    expect(httpAnswer(new KubeAuthError('token_missing'), { scheme: 'raw' }).headers).toEqual({});
  });
});
