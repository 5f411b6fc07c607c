import { exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BAD_TOKENS, type Context } from './catalogue.js';
import { ALLOWED, attacker, Cluster, pollUntil, type Store } from './fixture.js';
import { closeAgent, get, HitCounter, rawGet } from './net.js';
import { expectHttp, reportAfterAll } from './registry.js';

// The demo data store (packages/demo-store/dist/main.js) as a real process on the real control plane, attacked over
// HTTP. It answers as the article does (401 "X-Client-Id not supplied", 403 "Invalid token") and names the reason in
// X-Auth-Reason. A client's bad input must get a 4xx, never a 5xx and never a 200.

reportAfterAll();

let cluster: Cluster;
let hits: HitCounter;
let ctx: Context;
/** Local mode, X-Client-Id, as the article's data store (and LocalDeployment) runs it. */
let store: Store;
/** Local mode, `Authorization: Bearer`. */
let bearer: Store;
/** TokenReview mode, X-Client-Id. */
let reviewing: Store;

const EPHEMERAL = 'system:serviceaccount:api:ephemeral';

beforeAll(async () => {
  cluster = await Cluster.start();
  hits = await HitCounter.start({
    keys: [{ ...(await exportJWK(attacker.rsa.publicKey)), kid: 'attacker-key-1', alg: 'RS256', use: 'sig' }],
  });
  ctx = { cluster, attackerUrl: hits.url, valid: await cluster.token() };
  // ServiceAccount api:ephemeral is allowed too, so that its deletion and re-creation can be shown to revoke its token.
  const allow = { K8S_AUTH_ALLOWED_IDENTITIES: `${ALLOWED},${EPHEMERAL}` };
  [store, bearer, reviewing] = await Promise.all([
    cluster.startStore({ mode: 'local', env: allow }),
    cluster.startStore({ mode: 'local', env: { ...allow, K8S_AUTH_HEADER: 'authorization' } }),
    cluster.startStore({ mode: 'tokenreview', env: allow }),
  ]);
});

afterAll(async () => {
  closeAgent();
  await hits?.stop();
  await cluster?.stop();
});

const status = (url: string, headers: Record<string, string> = {}) => get(url, headers);

describe('valid requests', () => {
  it('the allowed caller gets 200 from every store (X-Client-Id, Bearer, TokenReview mode, and /sensitive)', async () => {
    expectHttp('valid token, local mode (X-Client-Id)', await status(store.url, { 'x-client-id': ctx.valid }), {
      status: 200,
      reason: null,
    });
    expectHttp(
      'valid token, local mode (Authorization: Bearer)',
      await status(bearer.url, { authorization: `Bearer ${ctx.valid}` }),
      { status: 200, reason: null },
    );
    expectHttp('valid token, TokenReview mode', await status(reviewing.url, { 'x-client-id': ctx.valid }), {
      status: 200,
      reason: null,
    });
    expectHttp(
      'valid token, revocation-sensitive route',
      await status(`${store.url}sensitive`, { 'x-client-id': ctx.valid }),
      { status: 200, reason: null },
    );
  });

  it('whitespace around a valid token is not part of the field value (RFC 9110 §5.5): 200', async () => {
    expectHttp(
      'valid token surrounded by spaces (stripped by HTTP)',
      await rawGet(store.url, `X-Client-Id:   ${ctx.valid}  \t\r\n`),
      { status: 200, reason: null },
    );
  });

  it('the Bearer scheme name is case-insensitive (RFC 7235): 200', async () => {
    expectHttp(
      'valid token after "bearer" in lower case',
      await status(bearer.url, { authorization: `bearer ${ctx.valid}` }),
      { status: 200, reason: null },
    );
  });
});

describe('X-Client-Id header', () => {
  it('no header: 401 token_missing', async () => {
    expectHttp('no X-Client-Id header', await status(store.url), { status: 401, reason: 'token_missing' });
  });

  it('an empty header, or one of only whitespace: 401 token_missing', async () => {
    expectHttp('empty X-Client-Id', await rawGet(store.url, 'X-Client-Id:\r\n'), {
      status: 401,
      reason: 'token_missing',
    });
    expectHttp('X-Client-Id of only whitespace', await rawGet(store.url, 'X-Client-Id:  \t  \r\n'), {
      status: 401,
      reason: 'token_missing',
    });
  });

  it('two X-Client-Id headers (Node joins them with ", "): 403 token_malformed', async () => {
    expectHttp(
      'two X-Client-Id headers',
      await rawGet(store.url, `X-Client-Id: ${ctx.valid}\r\nX-Client-Id: ${ctx.valid}\r\n`),
      {
        status: 403,
        reason: 'token_malformed',
      },
    );
  });

  it('two tokens in one X-Client-Id: 403 token_malformed', async () => {
    expectHttp(
      'two tokens in one X-Client-Id',
      await status(store.url, { 'x-client-id': `${ctx.valid} ${ctx.valid}` }),
      { status: 403, reason: 'token_malformed' },
    );
  });

  it('UTF-8 bytes inside the token: 403 token_malformed', async () => {
    const [h, p, s] = ctx.valid.split('.');
    const block = Buffer.concat([
      Buffer.from(`X-Client-Id: ${h}.${p}`),
      Buffer.from('ü', 'utf8'),
      Buffer.from(`.${s}\r\n`),
    ]);
    expectHttp('UTF-8 bytes inside the token', await rawGet(store.url, block), {
      status: 403,
      reason: 'token_malformed',
    });
  });

  it('a control character inside the value is refused by the HTTP parser: 400', async () => {
    expectHttp(
      'control character (0x01) in X-Client-Id',
      await rawGet(store.url, `X-Client-Id: ${ctx.valid.replace('.', '.\x01')}\r\n`),
      {
        status: 400,
        reason: null,
      },
    );
    expectHttp(
      'NUL byte in X-Client-Id',
      await rawGet(store.url, `X-Client-Id: ${ctx.valid.replace('.', '.\x00')}\r\n`),
      { status: 400, reason: null },
    );
  });

  it('a 9 KiB header is token_too_large (403); past Node’s 16 KiB header limit the server answers 431', async () => {
    expectHttp('9 KiB X-Client-Id', await status(store.url, { 'x-client-id': `${ctx.valid}${'A'.repeat(9 * 1024)}` }), {
      status: 403,
      reason: 'token_too_large',
    });
    expectHttp('20 KiB X-Client-Id', await rawGet(store.url, `X-Client-Id: ${'A'.repeat(20 * 1024)}\r\n`), {
      status: 431,
      reason: null,
    });
    // Still sending 1 MiB, the client may see the connection reset before it reads the 431: either way, no answer but 4xx.
    const huge = await rawGet(store.url, `X-Client-Id: ${'A'.repeat(1024 * 1024)}\r\n`);
    expectHttp(
      '1 MiB X-Client-Id',
      huge.status === 0 ? { status: 431, reason: null } : huge,
      { status: 431, reason: null },
      {
        expected: 'HTTP 431, or the connection closed with no answer',
      },
    );
  });
});

describe('Authorization header', () => {
  const cases: Array<[string, string | undefined, number, string]> = [
    ['no Authorization header', undefined, 401, 'token_missing'],
    ['"Bearer" with no token', 'Bearer', 401, 'token_missing'],
    ['"Bearer" and spaces, no token', 'Bearer    ', 401, 'token_missing'],
    ['Bearer with two tokens', 'Bearer {t} {t}', 403, 'token_malformed'],
    ['Bearer with two comma-separated tokens', 'Bearer {t},{t}', 403, 'token_malformed'],
    ['Bearer followed by a tab', 'Bearer\t{t}', 403, 'token_malformed'],
    ['Bearer without a space', 'Bearer{t}', 403, 'token_malformed'],
    ['Basic credentials', 'Basic YXBpOmFwaQ==', 403, 'token_malformed'],
    ['the bare token without a scheme', '{t}', 403, 'token_malformed'],
    ['Bearer with non-ASCII (latin1) bytes', 'Bearer {t}é', 403, 'token_malformed'],
    ['Bearer with a 9 KiB token', `Bearer {t}${'A'.repeat(9 * 1024)}`, 403, 'token_too_large'],
  ];
  for (const [name, value, code, reason] of cases) {
    it(`${name}: ${code} ${reason}`, async () => {
      const headers: Record<string, string> =
        value === undefined ? {} : { authorization: value.replaceAll('{t}', ctx.valid) };
      expectHttp(name, await status(bearer.url, headers), { status: code, reason });
    });
  }

  it('two Authorization headers, the valid one second: refused', async () => {
    const answer = await rawGet(bearer.url, `Authorization: Bearer garbage\r\nAuthorization: Bearer ${ctx.valid}\r\n`);
    expectHttp('two Authorization headers (garbage, then valid)', answer, { status: 403, reason: 'token_malformed' });
  });

  // Node keeps only the first of duplicated Authorization headers in req.headers; the middleware reads
  // req.headersDistinct so that it sees both and refuses the request instead of judging it on the first token.
  it('two Authorization headers, the valid one first: refused (token_malformed), never judged on one of them', async () => {
    const answer = await rawGet(bearer.url, `Authorization: Bearer ${ctx.valid}\r\nAuthorization: Bearer garbage\r\n`);
    expectHttp('two Authorization headers (valid, then garbage)', answer, { status: 403, reason: 'token_malformed' });
  });
});

describe('bad tokens over HTTP', () => {
  // A loop rather than it.each: vitest shortens interpolated values in test names, and the table names each test.
  for (const { name, reason, build } of BAD_TOKENS.filter((t) => !t.inProcessOnly)) {
    it(`${name} → 403 ${reason}`, async () => {
      const token = await build(ctx);
      expectHttp(
        name,
        await status(store.url, { 'x-client-id': token }),
        { status: 403, reason },
        { expected: 'HTTP 403' },
      );
    });
  }

  it('no jku / x5u URL was ever fetched by the data store', () => {
    expect(hits.hits).toBe(0);
  });
});

describe('Kubernetes-specific over HTTP', () => {
  it('a token of another ServiceAccount: authentic, refused by the policy with 403 identity_not_allowed (both modes)', async () => {
    const token = await cluster.token({ serviceAccount: 'intruder', pod: cluster.pod('intruder') });
    expectHttp(
      'token of another ServiceAccount (authentic, not allowed)',
      await status(store.url, { 'x-client-id': token }),
      {
        status: 403,
        reason: 'identity_not_allowed',
      },
    );
    expectHttp(
      'token of another ServiceAccount (authentic, not allowed)',
      await status(reviewing.url, { 'x-client-id': token }),
      {
        status: 403,
        reason: 'identity_not_allowed',
      },
      { expected: 'HTTP 403 (TokenReview mode)' },
    );
  });

  it("the default API-audience token (the article's replay): 403 audience_mismatch in local mode and in TokenReview mode (offline pre-check, no review)", async () => {
    const token = await cluster.token({ audiences: [] });
    const name = "default API-audience token presented to the data store (the article's replay)";
    expectHttp(
      name,
      await status(store.url, { 'x-client-id': token }),
      { status: 403, reason: 'audience_mismatch' },
      { expected: 'HTTP 403' },
    );
    expectHttp(
      name,
      await status(reviewing.url, { 'x-client-id': token }),
      { status: 403, reason: 'audience_mismatch' },
      { expected: 'HTTP 403 (TokenReview mode)' },
    );
  });

  describe('revocation', () => {
    let podToken: string;
    let saToken: string;

    it('before deletion: a pod-bound token and a token of ServiceAccount api:ephemeral are accepted everywhere; then the pod is deleted and the ServiceAccount recreated', async () => {
      const doomed = await cluster.createPod('api', 'doomed', 'api');
      podToken = await cluster.token({ pod: doomed });
      await cluster.admin.createServiceAccount('api', 'ephemeral');
      const pod = await cluster.createPod('api', 'ephemeral', 'ephemeral');
      saToken = await cluster.token({ serviceAccount: 'ephemeral', pod });
      for (const token of [podToken, saToken]) {
        for (const url of [store.url, `${store.url}sensitive`, reviewing.url]) {
          expectHttp(
            'token accepted before its pod or ServiceAccount is deleted',
            await status(url, { 'x-client-id': token }),
            { status: 200, reason: null },
          );
        }
      }
      await cluster.admin.deletePod('api', 'doomed');
      await cluster.admin.deleteServiceAccount('api', 'ephemeral');
      await cluster.admin.createServiceAccount('api', 'ephemeral');
    });

    const revoked = async (name: string, token: () => string) => {
      // Up to 10 s of the data store's own review cache plus 10 s of the API server's: poll, never sleep blindly.
      for (const [url, mode] of [
        [`${store.url}sensitive`, 'revocation-sensitive route, local mode'],
        [reviewing.url, 'TokenReview mode'],
      ] as const) {
        const { value, history } = await pollUntil(
          () => status(url, { 'x-client-id': token() }),
          (a) => a.status !== 200,
          45_000,
        );
        // Until the API server notices, the token is accepted; never a 5xx in between.
        expect(history.every((a) => a.status === 200 || a.status === 403)).toBe(true);
        expectHttp(name, value, { status: 403, reason: 'tokenreview_rejected' }, { expected: `HTTP 403 (${mode})` });
      }
      // The documented limit: an ordinary route in local mode accepts the token until it expires.
      expectHttp(
        `${name}: ordinary route in local mode (documented limit)`,
        await status(store.url, { 'x-client-id': token() }),
        { status: 200, reason: null },
        {
          expected: 'HTTP 200 until exp (use /sensitive or TokenReview mode)',
        },
      );
    };

    it("a deleted pod's token: 403 tokenreview_rejected on /sensitive and in TokenReview mode", async () => {
      await revoked("deleted pod's token", () => podToken);
    });

    it("a deleted and recreated ServiceAccount's token: 403 tokenreview_rejected on /sensitive and in TokenReview mode", async () => {
      await revoked("recreated ServiceAccount's token", () => saToken);
    });
  });
});

describe('the data stores survived every request', () => {
  it('each still answers /healthz with 200 and the allowed caller with 200', async () => {
    for (const s of [store, reviewing]) {
      expect((await status(`${s.url}healthz`)).status).toBe(200);
      expect((await status(s.url, { 'x-client-id': ctx.valid })).status).toBe(200);
    }
    expect((await status(bearer.url, { authorization: `Bearer ${ctx.valid}` })).status).toBe(200);
  });
});
