import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNREACHABLE_KUBECONFIG } from '../support/kubeconfig.js';

// The built root entry (`pnpm build` runs before the suites), as a consumer imports it.
const ROOT_ENTRY = createRequire(import.meta.url).resolve('@kube-service-auth/verifier');
const run = promisify(execFile);

// A module hook (module.register: resolve and load hooks, run on the loader thread) that appends every module URL
// loaded to the file named by $LOADED_MODULES: what the process really loaded, not what the code says it imports.
const HOOK = `
import { appendFileSync } from 'node:fs';
export async function load(url, context, nextLoad) {
  appendFileSync(process.env.LOADED_MODULES, url + '\\n');
  return nextLoad(url, context);
}
`;

// Imports the root entry, builds the stack from the environment, prints what it built or the ConfigError.
const SERVICE = `
import { register } from 'node:module';
register(process.env.HOOK_URL);
const { kubeAuthFromEnv, ConfigError } = await import(process.env.ROOT_ENTRY);
try {
  const auth = await kubeAuthFromEnv();
  console.log(JSON.stringify({ mode: auth.config.mode, canReview: auth.verifier.canReview }));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.log(JSON.stringify({ configError: err.variable, message: err.message }));
}
`;

let dir: string;
let kubeconfig: string;
let brokenKubeconfig: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksa-lazy-'));
  await writeFile(join(dir, 'hook.mjs'), HOOK);
  await writeFile(join(dir, 'service.mjs'), SERVICE);
  kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, UNREACHABLE_KUBECONFIG);
  brokenKubeconfig = join(dir, 'broken-kubeconfig');
  await writeFile(brokenKubeconfig, 'clusters: [this is not: a kubeconfig');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the service in a fresh Node process with only `env` (HOME without ~/.kube, no $KUBECONFIG). */
async function service(env: Record<string, string>): Promise<{ printed: Record<string, unknown>; loaded: string[] }> {
  const loadedFile = join(dir, `loaded-${Math.random().toString(36).slice(2)}.txt`);
  await writeFile(loadedFile, '');
  const { stdout } = await run(process.execPath, [join(dir, 'service.mjs')], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      HOOK_URL: pathToFileURL(join(dir, 'hook.mjs')).href,
      ROOT_ENTRY: pathToFileURL(ROOT_ENTRY).href,
      LOADED_MODULES: loadedFile,
      K8S_AUTH_AUDIENCE: 'data-store',
      K8S_AUTH_ALLOWED_IDENTITIES: 'system:serviceaccount:api:api',
      K8S_AUTH_CA_FILE: 'none',
      K8S_AUTH_TOKEN_FILE: 'none',
      ...env,
    },
  });
  const loaded = (await readFile(loadedFile, 'utf8')).split('\n').filter(Boolean);
  return { printed: JSON.parse(stdout.trim()) as Record<string, unknown>, loaded };
}

const clientNode = (loaded: string[]) => loaded.filter((url) => url.includes('/@kubernetes/client-node/'));

describe('@kubernetes/client-node is loaded only where an API server is configured', () => {
  it('a local-mode service with no API server loads the root entry and builds its verifier without it', async () => {
    const { printed, loaded } = await service({ K8S_AUTH_MODE: 'local' });
    expect(printed).toEqual({ mode: 'local', canReview: false });
    // The hook saw the verifier itself: an empty list would prove nothing.
    expect(loaded).toContain(pathToFileURL(ROOT_ENTRY).href);
    expect(loaded.some((url) => url.endsWith('/local-verifier.js'))).toBe(true);
    expect(clientNode(loaded)).toEqual([]);
  });

  it('K8S_AUTH_KUBECONFIG=none keeps it out even when a kubeconfig could be found', async () => {
    const { printed, loaded } = await service({ KUBECONFIG: kubeconfig, K8S_AUTH_KUBECONFIG: 'none' });
    expect(printed).toEqual({ mode: 'local', canReview: false });
    expect(clientNode(loaded)).toEqual([]);
  });

  it('tokenreview mode with a kubeconfig loads it at start-up and can review', async () => {
    const { printed, loaded } = await service({ K8S_AUTH_MODE: 'tokenreview', K8S_AUTH_KUBECONFIG: kubeconfig });
    expect(printed).toEqual({ mode: 'tokenreview', canReview: true });
    expect(clientNode(loaded)).not.toEqual([]);
  });

  it('local mode with a kubeconfig found by default ($KUBECONFIG) loads it, for revocation-sensitive routes', async () => {
    const { printed, loaded } = await service({ KUBECONFIG: kubeconfig });
    expect(printed).toEqual({ mode: 'local', canReview: true });
    expect(clientNode(loaded)).not.toEqual([]);
  });

  it('a kubeconfig that cannot be loaded still fails at start-up with a ConfigError naming the variable', async () => {
    const explicit = await service({ K8S_AUTH_MODE: 'tokenreview', K8S_AUTH_KUBECONFIG: brokenKubeconfig });
    expect(explicit.printed).toMatchObject({
      configError: 'K8S_AUTH_KUBECONFIG',
      message: expect.stringContaining(brokenKubeconfig),
    });
    const found = await service({ KUBECONFIG: brokenKubeconfig });
    expect(found.printed).toMatchObject({ configError: 'KUBECONFIG' });
  });

  it('tokenreview mode with no API server at all fails at start-up, naming K8S_AUTH_KUBECONFIG, without loading it', async () => {
    const { printed, loaded } = await service({ K8S_AUTH_MODE: 'tokenreview' });
    expect(printed).toMatchObject({ configError: 'K8S_AUTH_KUBECONFIG' });
    expect(clientNode(loaded)).toEqual([]);
  });
});
