import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { BAD_TOKENS, type Context } from '../adversarial/catalogue.js';
import { ALLOWED, Cluster } from '../adversarial/fixture.js';

// `kube-service-auth` as an operator runs it: the built bin as a process, against the real kube-apiserver, through a
// kubeconfig as kubectl would use it.

const BIN = fileURLToPath(new URL('../../../packages/cli/dist/main.js', import.meta.url));

let cluster: Cluster;
let ctx: Context;
let dir: string;
let kubeconfig: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with a clean environment (no K8S_AUTH_*, no KUBECONFIG), plus `env`, feeding `stdin`. */
function cli(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}): Promise<Run> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: dir, ...options.env };
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end(options.stdin ?? '');
  });
}

beforeAll(async () => {
  cluster = await Cluster.start();
  ctx = { cluster, attackerUrl: 'http://127.0.0.1:1', valid: await cluster.token() };
  dir = await mkdtemp(join(tmpdir(), 'ksa-cli-'));
  // Two contexts, the current one pointing at a closed port: --context must pick the good one, as with kubectl.
  const admin = cluster.cp.kubeConfig();
  const cluster0 = admin.getCurrentCluster();
  const user = admin.getCurrentUser();
  kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'real',
          cluster: {
            server: cluster0?.server,
            'certificate-authority-data': Buffer.from(cluster.cp.caPem).toString('base64'),
          },
        },
        {
          name: 'gone',
          cluster: {
            server: 'https://127.0.0.1:1',
            'certificate-authority-data': Buffer.from(cluster.cp.caPem).toString('base64'),
          },
        },
      ],
      users: [
        {
          name: 'admin',
          user: {
            'client-certificate-data': Buffer.from(cluster.cp.adminCredentials.cert).toString('base64'),
            'client-key-data': Buffer.from(cluster.cp.adminCredentials.key).toString('base64'),
          },
        },
      ],
      contexts: [
        { name: 'real', context: { cluster: 'real', user: 'admin' } },
        { name: 'gone', context: { cluster: 'gone', user: 'admin' } },
      ],
      'current-context': 'gone',
    }),
  );
  expect(user).toBeTruthy();
});

afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const base = () => ['--kubeconfig', kubeconfig, '--context', 'real', '--audience', 'data-store'];

describe('kube-service-auth verify', () => {
  it('prints the identity of a valid token as JSON and exits 0 (local mode, issuer discovered through the kubeconfig)', async () => {
    const run = await cli(['verify', ctx.valid, ...base()]);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as {
      allowed: boolean;
      identity: { username: string; pod: { name: string }; verifiedBy: string };
      decision: { rule: string };
    };
    expect(out).toMatchObject({
      allowed: true,
      identity: { username: ALLOWED, pod: { name: 'api' }, verifiedBy: 'local' },
      decision: { rule: '*' },
    });
  });

  it('reads the token from standard input and from a file (a "Bearer " prefix is tolerated)', async () => {
    expect((await cli(['verify', ...base()], { stdin: `Bearer ${ctx.valid}\n` })).code).toBe(0);
    const file = join(dir, 'token');
    await writeFile(file, `${ctx.valid}\n`);
    expect((await cli(['verify', '--file', file, ...base()])).code).toBe(0);
  });

  it('verifies in TokenReview mode, and with --revocation-sensitive', async () => {
    const reviewed = await cli(['verify', ctx.valid, ...base(), '--mode', 'tokenreview']);
    expect(reviewed.code, reviewed.stdout + reviewed.stderr).toBe(0);
    expect(JSON.parse(reviewed.stdout)).toMatchObject({ identity: { username: ALLOWED, verifiedBy: 'tokenreview' } });
    expect(JSON.parse((await cli(['verify', ctx.valid, ...base(), '--revocation-sensitive'])).stdout)).toMatchObject({
      identity: { verifiedBy: 'tokenreview' },
    });
  });

  it("explains the article's replay: a token for the API server presented to the data store (exit 4)", async () => {
    const token = await cluster.token({ audiences: [] });
    const run = await cli(['verify', token, ...base()]);
    expect(run.code).toBe(4);
    expect(run.stdout).toContain('REFUSED  audience_mismatch  (invalid: HTTP 401, gRPC UNAUTHENTICATED)');
    expect(run.stdout).toMatch(/token audience:\s+https:\/\/127\.0\.0\.1:\d+/);
    expect(run.stdout).toMatch(/expected one of:\s+data-store/);
    expect(run.stdout).not.toContain(token);
  });

  it('explains an expired token with its exp and the leeway (exit 4)', async () => {
    const expired = BAD_TOKENS.find((t) => t.reason === 'token_expired');
    const run = await cli(['verify', await expired!.build(ctx), ...base()]);
    expect(run.code).toBe(4);
    expect(run.stdout).toContain('REFUSED  token_expired');
    expect(run.stdout).toMatch(/expired:\s+\S+ \(\d+ (s|min) ago; leeway 60 s\)/);
  });

  it('names the caller and the allow-list when the policy refuses (exit 5), and prints JSON with --json', async () => {
    const intruder = await cluster.token({ serviceAccount: 'intruder', pod: cluster.pod('intruder') });
    const run = await cli(['verify', intruder, ...base(), '--allow', 'api:api']);
    expect(run.code).toBe(5);
    expect(run.stdout).toContain('REFUSED  identity_not_allowed  (forbidden: HTTP 403, gRPC PERMISSION_DENIED)');
    expect(run.stdout).toMatch(/caller:\s+system:serviceaccount:api:intruder/);
    const json = await cli(['verify', intruder, ...base(), '--allow', 'api:api', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      allowed: false,
      reason: 'identity_not_allowed',
      kind: 'forbidden',
      http: 403,
      grpc: 'PERMISSION_DENIED',
    });
  });

  it('exits 3 for no token at all, 6 when the key set cannot be read, 2 for a configuration error', async () => {
    const empty = await cli(['verify', '--json', ...base()], { stdin: '\n' });
    expect([empty.code, JSON.parse(empty.stdout).reason]).toEqual([3, 'token_missing']);
    expect((await cli(['verify', ...base(), '--file', join(dir, 'missing')])).code).toBe(2);
    const unreachable = await cli([
      'verify',
      ctx.valid,
      ...base(),
      '--jwks-uri',
      'https://127.0.0.1:1/openid/v1/jwks',
      '--json',
    ]);
    expect(unreachable.code).toBe(6);
    expect(JSON.parse(unreachable.stdout)).toMatchObject({
      reason: 'jwks_unavailable',
      kind: 'unavailable',
      http: 503,
      grpc: 'UNAVAILABLE',
    });
    const noAudience = await cli(['verify', ctx.valid, '--kubeconfig', kubeconfig, '--context', 'real']);
    expect(noAudience.code).toBe(2);
    expect(noAudience.stderr).toContain('K8S_AUTH_AUDIENCE');
    const garbage = await cli(['verify', 'not-a-token', ...base(), '--json']);
    expect([garbage.code, JSON.parse(garbage.stdout).reason]).toEqual([4, 'token_malformed']);
  });

  it('takes K8S_AUTH_* settings from the environment, and follows the kubeconfig current context without --context', async () => {
    const fromEnv = await cli(['verify', ctx.valid, '--context', 'real'], {
      env: {
        K8S_AUTH_AUDIENCE: 'data-store',
        K8S_AUTH_KUBECONFIG: kubeconfig,
        K8S_AUTH_ALLOWED_IDENTITIES: 'api:other',
      },
    });
    expect(fromEnv.code).toBe(5);
    // The current context points at a closed port: the cluster cannot be asked (exit 6), never a pass.
    const current = await cli(['verify', ctx.valid, '--kubeconfig', kubeconfig, '--audience', 'data-store']);
    expect(current.code).toBe(6);
  });
});

describe('kube-service-auth inspect', () => {
  it('decodes without verifying, loudly, and explains expiry, audience and bindings', async () => {
    // A token minted now: the one of beforeAll may be tens of seconds old by this test on a loaded machine.
    const run = await cli(['inspect', await cluster.token()]);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(/^\*\*\* UNVERIFIED \*\*\*/);
    expect(run.stdout).toMatch(/audience\s+data-store/);
    // The token was minted in beforeAll; on a loaded machine the file may reach this test minutes later.
    expect(run.stdout).toMatch(/expires\s+\S+ \(in (59\d s|[5-9] min|10 min)\), lifetime 10 min/);
    expect(run.stdout).toMatch(new RegExp(`bound to pod\\s+api \\(uid ${cluster.pod('api').uid}\\)`));
    expect(run.stdout).toMatch(/on node\s+node-1/);
  });

  it('warns about a token for the API server and one not bound to a pod; --json keeps the unverified flag', async () => {
    const run = await cli(['inspect', '-'], { stdin: await cluster.token({ audiences: [], pod: null }) });
    expect(run.stdout).toContain("is the API server's: a service must not accept it");
    expect(run.stdout).toContain('not bound to a pod');
    const json = JSON.parse((await cli(['inspect', '--json', ctx.valid])).stdout) as {
      unverified: boolean;
      payload: { aud: string[] };
    };
    expect(json).toMatchObject({ unverified: true, payload: { aud: ['data-store'] } });
  });
});
