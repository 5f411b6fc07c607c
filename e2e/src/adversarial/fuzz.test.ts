import { randomUUID } from 'node:crypto';
import { isKubeAuthError, REASONS } from '@kube-service-auth/verifier';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attacker, b64, Cluster, signCompact, type Store } from './fixture.js';
import { closeAgent, get, rawGet } from './net.js';
import { record, reportAfterAll } from './registry.js';

// Property-based fuzzing with fast-check against the real control plane: random strings and bytes, and mutations of
// real TokenRequest tokens, thrown at LocalVerifier.verify and at the data store over HTTP. Run counts are bounded so
// that the file stays well under a minute; a failure prints fast-check's seed and shrunk counterexample.

reportAfterAll();

const RUNS = 1000;
const HTTP_RUNS = 500;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

let cluster: Cluster;
let store: Store;
let main: ReturnType<Cluster['localVerifier']>;
let tokens: [string, string];

beforeAll(async () => {
  cluster = await Cluster.start();
  store = await cluster.startStore({ mode: 'local' });
  // A long cooldown: random kids are answered from the cached key set, so the runs cost the API server nothing.
  main = cluster.localVerifier({ jwks: { cooldown: 3600 } });
  tokens = [await cluster.token(), await cluster.token()];
  for (const token of tokens) await main.verifier.verify(token);
  for (const token of tokens) expect((await get(store.url, { 'x-client-id': token })).status).toBe(200);
});

afterAll(async () => {
  closeAgent();
  await cluster?.stop();
});

/**
 * True when `candidate` carries exactly the signed content of `original`: the same header and payload text, and a
 * signature segment that decodes to the same bytes. The last base64url character of a segment has unused low bits, so
 * two different strings can hold one signature; such a token is the original, not a forgery.
 */
function sameSignedContent(original: string, candidate: string): boolean {
  const a = original.split('.');
  const b = candidate.split('.');
  if (b.length !== 3 || a[0] !== b[0] || a[1] !== b[1] || !/^[A-Za-z0-9_-]+$/.test(b[2] ?? '')) return false;
  return Buffer.from(a[2] ?? '', 'base64url').equals(Buffer.from(b[2] ?? '', 'base64url'));
}

type Verdict = { kind: 'accepted' } | { kind: 'rejected'; code: string } | { kind: 'crashed'; error: unknown };

async function verdict(token: string): Promise<Verdict> {
  try {
    await main.verifier.verify(token);
    return { kind: 'accepted' };
  } catch (error) {
    return isKubeAuthError(error) ? { kind: 'rejected', code: error.code } : { kind: 'crashed', error };
  }
}

/**
 * Runs a property and records it as one attack row with its run count, the histogram of reasons seen and the number
 * of mistaken accepts. `check` returns the reason (or HTTP status) it saw, `accepted-by-mistake`, or a failure text.
 */
async function fuzz<T>(
  name: string,
  expected: string,
  reason: string,
  arbitrary: fc.Arbitrary<T>,
  check: (input: T) => Promise<string>,
  numRuns: number,
): Promise<void> {
  let tried = 0;
  let mistakes = 0;
  const seen = new Map<string, number>();
  try {
    await fc.assert(
      fc.asyncProperty(arbitrary, async (input) => {
        tried++;
        const outcome = await check(input);
        seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
        if (outcome === 'accepted-by-mistake') mistakes++;
        return !outcome.startsWith('accepted-by-mistake') && !outcome.startsWith('FAIL');
      }),
      { numRuns },
    );
  } finally {
    const histogram = [...seen.entries()]
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ');
    record({
      kind: 'attack',
      name,
      expected,
      reason,
      expectedVerdict: 'reject',
      observedVerdict: mistakes ? 'accept' : 'reject',
      observed: histogram,
      inputs: tried,
      mistakes,
    });
  }
}

const invalidKind = (code: string) => code in REASONS && REASONS[code as keyof typeof REASONS].kind !== 'unavailable';

/** In-process: an accept is a mistake unless allowed; a non-KubeAuthError or an "unavailable" code is a failure. */
function judgeInProcess(v: Verdict, acceptable: boolean): string {
  if (v.kind === 'accepted') return acceptable ? 'accepted (unchanged signed content)' : 'accepted-by-mistake';
  if (v.kind === 'crashed') return `FAIL: threw ${String(v.error)}`;
  return invalidKind(v.code) ? v.code : `FAIL: ${v.code}`;
}

/** Over HTTP: 200 is a mistake unless allowed; a 5xx is a failure; any other status is a refusal. */
function judgeHttp(a: { status: number; reason: string | null }, acceptable: boolean): string {
  if (a.status === 200) return acceptable ? 'HTTP 200 (unchanged signed content)' : 'accepted-by-mistake';
  if (a.status >= 500 || a.status < 400) return `FAIL: HTTP ${a.status} ${a.reason ?? ''}`;
  return `HTTP ${a.status}${a.reason ? ` ${a.reason}` : ''}`;
}

// --- arbitraries --------------------------------------------------------------------------------------------------

const edit = fc.record({
  segment: fc.integer({ min: 0, max: 2 }),
  op: fc.constantFrom('replace', 'insert', 'delete'),
  at: fc.nat(),
  char: fc.constantFrom(...`${B64URL}.=+/ é\t`),
});

/** Flip / insert / delete characters inside chosen segments of one of the real tokens. */
const edited = fc
  .record({ which: fc.integer({ min: 0, max: 1 }), edits: fc.array(edit, { minLength: 1, maxLength: 4 }) })
  .map(({ which, edits }) => {
    const original = tokens[which] as string;
    const parts = original.split('.');
    for (const e of edits) {
      const seg = parts[e.segment] ?? '';
      const at = e.at % (seg.length + 1);
      if (e.op === 'replace') parts[e.segment] = seg.slice(0, at) + e.char + seg.slice(at + 1);
      else if (e.op === 'insert') parts[e.segment] = seg.slice(0, at) + e.char + seg.slice(at);
      else parts[e.segment] = seg.slice(0, at) + seg.slice(at + 1);
    }
    return parts.join('.');
  });

/**
 * Each segment taken from either real token (both are valid for the data store, with different jti and signatures;
 * their headers are equal, so some combinations are one of the tokens again).
 */
const swapped = fc
  .tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 }))
  .map(([h, p, s]) => {
    const parts = tokens.map((t) => t.split('.'));
    return [parts[h]?.[0], parts[p]?.[1], parts[s]?.[2]].join('.');
  });

/** The header decoded and re-encoded with another alg (or kid, or typ), payload and signature kept. */
const reheadered = fc
  .record({
    which: fc.integer({ min: 0, max: 1 }),
    alg: fc.constantFrom(
      'none',
      'None',
      'HS256',
      'HS512',
      'RS256',
      'RS384',
      'RS512',
      'PS256',
      'ES256',
      'ES384',
      'ES512',
      'EdDSA',
      'Ed25519',
      '',
    ),
    kid: fc.option(fc.constantFrom('', 'x', '../../jwks', '__proto__'), { nil: undefined }),
    extra: fc.option(
      fc.dictionary(fc.constantFrom('jku', 'x5u', 'jwk', 'crit', 'typ', 'cty', 'b64', 'zip'), fc.jsonValue()),
      { nil: undefined },
    ),
  })
  .map(({ which, alg, kid, extra }) => {
    const original = tokens[which] as string;
    const [h, p, s] = original.split('.');
    const header: Record<string, unknown> = {
      ...(JSON.parse(Buffer.from(h ?? '', 'base64url').toString()) as Record<string, unknown>),
      alg,
      ...extra,
    };
    if (kid !== undefined) header.kid = kid;
    return `${b64(JSON.stringify(header))}.${p}.${s}`;
  });

const truncated = fc.record({ which: fc.integer({ min: 0, max: 1 }), at: fc.nat() }).map(({ which, at }) => {
  const original = tokens[which] as string;
  return original.slice(0, at % original.length);
});

const mutatedToken = fc.oneof(edited, swapped, reheadered, truncated);

/** A mutation may give back one of the valid tokens (same signed content): accepting that is right. */
const isOriginal = (candidate: string) => tokens.some((t) => sameSignedContent(t, candidate));

/** Latin1 strings Node's HTTP client can send as a header value (HTAB, SP, VCHAR, obs-text). */
const latin1Value = fc
  .array(fc.integer({ min: 0, max: 255 }), { maxLength: 3000 })
  .map((bytes) =>
    Buffer.from(bytes.map((b) => ((b < 0x20 && b !== 0x09) || b === 0x7f ? b + 0x40 : b))).toString('latin1'),
  );

/** Any bytes but CR and LF (which would end the header line): the raw socket sends them as they are. */
const rawBytes = fc
  .uint8Array({ minLength: 1, maxLength: 3000 })
  .map((bytes) => Buffer.from(bytes.map((b) => (b === 0x0d || b === 0x0a ? 0x20 : b))));

const threeSegments = fc
  .tuple(
    fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 400 }),
    fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 1200 }),
    fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 400 }),
  )
  .map((parts) => parts.join('.'));

// --- LocalVerifier ------------------------------------------------------------------------------------------------

describe('LocalVerifier.verify under random input', () => {
  it(`never accepts, and only throws KubeAuthError, for arbitrary strings (${RUNS} runs)`, async () => {
    await fuzz(
      'fuzz: arbitrary strings (LocalVerifier)',
      'rejected with a KubeAuthError of kind invalid',
      'token_malformed / token_too_large …',
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.string({ unit: 'binary', maxLength: 2000 }),
        fc.string({ unit: 'grapheme', maxLength: 200 }),
      ),
      async (input) => judgeInProcess(await verdict(input), false),
      RUNS,
    );
  });

  it(`never accepts random three-segment base64url strings (${RUNS} runs)`, async () => {
    await fuzz(
      'fuzz: random three-segment base64url (LocalVerifier)',
      'rejected with a KubeAuthError of kind invalid',
      'token_malformed …',
      threeSegments,
      async (input) => judgeInProcess(await verdict(input), false),
      RUNS,
    );
  });

  it(`never accepts a mutated real token unless its signed content is unchanged (${RUNS} runs)`, async () => {
    await fuzz(
      'fuzz: mutated real tokens — flip/insert/delete in a segment, swapped segments, re-encoded header, truncation (LocalVerifier)',
      'rejected unless the signed content is unchanged',
      'token_malformed / signature_invalid / algorithm_not_allowed / key_not_found …',
      mutatedToken,
      async (mutated) => judgeInProcess(await verdict(mutated), isOriginal(mutated)),
      RUNS,
    );
  });

  it(`agrees with an independent model of the rules on random claim sets signed with the real key (${RUNS} runs)`, async () => {
    const { key, kid } = await cluster.signingKey();
    const base = await cluster.claims();
    const now = Math.floor(Date.now() / 1000);
    const k8s = base['kubernetes.io'] as {
      namespace: string;
      serviceaccount: { name: string; uid: string };
      pod: object;
      node: object;
    };
    const choices = {
      iss: [cluster.issuer, `${cluster.issuer}/`, 'https://evil.example.com', undefined, 42],
      aud: [['data-store'], 'data-store', ['billing', 'data-store'], ['billing'], [], undefined, 'Data-Store', 7],
      exp: [now + 600, now + 600.5, now - 10, now - 180, undefined, String(now + 600), null],
      iat: [now, now + 20, now + 180, undefined, String(now)],
      nbf: [undefined, now, now + 20, now + 180, 'soon'],
      sub: [
        'system:serviceaccount:api:api',
        'system:serviceaccount:api:intruder',
        'system:serviceaccount:other:api',
        'system:admin',
        undefined,
      ],
      k8s: [
        k8s,
        { ...k8s, pod: undefined },
        { ...k8s, pod: { name: 'api' } },
        { ...k8s, namespace: 'other' },
        { ...k8s, serviceaccount: { name: 'intruder', uid: k8s.serviceaccount.uid } },
        { ...k8s, namespace: 'API' },
        undefined,
        'api',
      ],
    };
    // The first choice of each claim is the valid one, drawn four times out of five: most runs change one or two claims.
    const pick = <K extends keyof typeof choices>(k: K) =>
      fc
        .oneof(
          { arbitrary: fc.constant(0), weight: 4 },
          { arbitrary: fc.integer({ min: 1, max: choices[k].length - 1 }), weight: 1 },
        )
        .map((i) => choices[k][i]);
    const model = fc.record({
      iss: pick('iss'),
      aud: pick('aud'),
      exp: pick('exp'),
      iat: pick('iat'),
      nbf: pick('nbf'),
      sub: pick('sub'),
      k8s: pick('k8s'),
    });

    // The rules, written independently of the verifier (values 40 s or more from every boundary, so the clock cannot
    // flip a verdict during the run). The policy is not part of it: another ServiceAccount's valid token is authentic.
    const shouldAccept = (m: Record<string, unknown>): boolean => {
      const aud = m.aud;
      const audOk = aud === 'data-store' || (Array.isArray(aud) && aud.includes('data-store'));
      const k = m.k8s as
        | { namespace?: unknown; serviceaccount?: { name?: unknown }; pod?: { name?: unknown; uid?: unknown } }
        | undefined;
      const k8sOk =
        typeof k === 'object' &&
        k !== null &&
        typeof k.namespace === 'string' &&
        /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(k.namespace) &&
        typeof k.serviceaccount?.name === 'string' &&
        typeof k.pod?.name === 'string' &&
        typeof k.pod?.uid === 'string' &&
        m.sub === `system:serviceaccount:${k.namespace}:${k.serviceaccount.name}`;
      return (
        m.iss === cluster.issuer &&
        audOk &&
        typeof m.exp === 'number' &&
        m.exp > now - 60 &&
        typeof m.iat === 'number' &&
        m.iat <= now + 60 &&
        (m.nbf === undefined || (typeof m.nbf === 'number' && m.nbf <= now + 60)) &&
        k8sOk
      );
    };

    await fuzz(
      'fuzz: random claim sets signed with the real key, against a model of the rules (LocalVerifier)',
      'accepted exactly when the model accepts',
      'issuer_mismatch / audience_mismatch / token_expired / token_not_yet_valid / claim_invalid',
      model,
      async (m) => {
        const { k8s: k, ...rest } = m;
        const claims: Record<string, unknown> = { ...rest, jti: randomUUID(), 'kubernetes.io': k };
        for (const name of Object.keys(claims)) if (claims[name] === undefined) delete claims[name];
        const token = signCompact({ alg: 'RS256', kid }, claims, 'RS256', key);
        const v = await verdict(token);
        const expected = shouldAccept(m);
        if (v.kind === 'accepted') return expected ? 'accepted (model: valid)' : 'accepted-by-mistake';
        if (v.kind === 'crashed') return `FAIL: threw ${String(v.error)}`;
        return expected ? `FAIL: refused a valid token (${v.code})` : v.code;
      },
      RUNS,
    );
  });

  it(`never accepts a random claim set signed by another key under the cluster's kid (${RUNS} runs)`, async () => {
    const { kid } = await cluster.signingKey();
    const base = await cluster.claims();
    await fuzz(
      "fuzz: claim sets signed by an attacker key under the cluster's kid (LocalVerifier)",
      'rejected',
      'signature_invalid',
      fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
      async (extra) =>
        judgeInProcess(
          await verdict(signCompact({ alg: 'RS256', kid }, { ...base, ...extra }, 'RS256', attacker.rsa.privateKey)),
          false,
        ),
      RUNS,
    );
  });

  it('cost the API server nothing: still the one key-set fetch of the warm-up', () => {
    expect(main.fetches()).toBe(1);
  });
});

// --- the data store over HTTP -------------------------------------------------------------------------------------

describe('the data store over HTTP under random input', () => {
  it(`never answers 200 to a mutated real token, never 5xx (${HTTP_RUNS} runs)`, async () => {
    await fuzz(
      'fuzz: mutated real tokens over HTTP',
      'HTTP 401/403 (4xx), never 200 unless the signed content is unchanged, never 5xx',
      'token_malformed / signature_invalid / …',
      mutatedToken.filter((mutated) => /^[\t\x20-\x7e\x80-\xff]*$/.test(mutated)),
      async (mutated) => {
        // HTTP strips spaces and tabs around a field value: the server judges what is left.
        const seen = mutated.replace(/^[ \t]+|[ \t]+$/g, '');
        return judgeHttp(await get(store.url, { 'x-client-id': mutated }), isOriginal(seen));
      },
      HTTP_RUNS,
    );
    // A mutation that leaves the header decodable with another kid waits for the next key fetch the refetch cooldown
    // allows before it is refused (issue 10: a valid token signed by a new key must not be refused), up to 5 s each:
    // about 95 s for 500 runs on an idle machine, too close to the default 120 s under a full suite's load.
  }, 300_000);

  it(`never answers 200 or 5xx to random latin1 header values (${HTTP_RUNS} runs)`, async () => {
    await fuzz(
      'fuzz: random latin1 X-Client-Id values over HTTP',
      'HTTP 4xx, never 200, never 5xx',
      'token_missing / token_malformed / token_too_large',
      latin1Value,
      async (value) => judgeHttp(await get(store.url, { 'x-client-id': value }), false),
      HTTP_RUNS,
    );
  });

  it(`never answers 200 or 5xx to random raw header bytes, control characters included (${HTTP_RUNS} runs)`, async () => {
    await fuzz(
      'fuzz: random raw bytes as the X-Client-Id line over HTTP',
      'HTTP 4xx (400 from the HTTP parser for control characters), never 200, never 5xx',
      'token_missing / token_malformed / (400 without reason)',
      rawBytes,
      async (bytes) =>
        judgeHttp(
          await rawGet(store.url, Buffer.concat([Buffer.from('X-Client-Id: '), bytes, Buffer.from('\r\n')])),
          false,
        ),
      HTTP_RUNS,
    );
  });

  it('the data store is still up and serves the allowed caller', async () => {
    expect((await get(`${store.url}healthz`)).status).toBe(200);
    expect((await get(store.url, { 'x-client-id': tokens[0] })).status).toBe(200);
  });
});
