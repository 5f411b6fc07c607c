import { spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGES, type ImageSpec } from '../kind/commands.js';
import { run, runChecked } from '../kind/exec.js';
import { instructions, isIgnored, parseDockerfile, parseDockerignore, stageArg, type Stage } from './dockerfile.js';
import { REPO_ROOT } from './manifests.js';
import { UNREACHABLE_KUBECONFIG } from '../support/kubeconfig.js';

interface PackageJson {
  name: string;
  packageManager?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const readJson = (path: string) => JSON.parse(readFileSync(join(REPO_ROOT, path), 'utf8')) as PackageJson;
const workspace = new Map(
  readdirSync(join(REPO_ROOT, 'packages')).map((dir) => {
    const pkg = readJson(`packages/${dir}/package.json`);
    return [pkg.name, { dir: `packages/${dir}`, pkg }];
  }),
);

/** The package and every workspace package it depends on at run time, transitively. */
function workspaceClosure(name: string, seen = new Set<string>()): Set<string> {
  seen.add(name);
  for (const [dep, range] of Object.entries(workspace.get(name)?.pkg.dependencies ?? {})) {
    if (range.startsWith('workspace:') && !seen.has(dep)) workspaceClosure(dep, seen);
  }
  return seen;
}

const dockerignore = parseDockerignore(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));
const rootPackage = readJson('package.json');

describe.each(IMAGES.map((image) => [image.tag, image] as const))('Dockerfile of %s', (_tag, image) => {
  const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, image.dockerfile), 'utf8'));
  const [build, final] = dockerfile.stages as [Stage, Stage];
  const pkg = workspace.get(image.package);
  const closure = [...workspaceClosure(image.package)];
  const dirOf = (name: string) => workspace.get(name)?.dir as string;

  it('has a build stage and a final stage, both on the current Node LTS (24)', () => {
    expect(dockerfile.stages).toHaveLength(2);
    expect(build.name).toBe('build');
    for (const stage of dockerfile.stages) expect(stage.from).toMatch(/^node:24(-bookworm-slim|-alpine)$/);
  });

  it('installs the pnpm of packageManager, with the lockfile, only for this package and its workspace dependencies', () => {
    expect(`pnpm@${stageArg(build, 'PNPM_VERSION')}`).toBe(rootPackage.packageManager);
    const install = instructions(build, 'RUN').find((r) => r.args.startsWith('pnpm install'));
    expect(install?.args).toContain('--frozen-lockfile');
    expect(install?.args).toContain(`--filter "${image.package}..."`);
    // The root project brings typescript for the build.
    expect(install?.args).toContain(`--filter ${rootPackage.name}`);
  });

  it('copies the workspace manifests before installing and the sources after, all of them inside the build context', () => {
    const copies = instructions(build, 'COPY').map((c) => c.args.split(/\s+/));
    const sources = copies.flatMap((words) => words.slice(0, -1));
    const installAt = instructions(build, 'RUN').find((r) => r.args.startsWith('pnpm install'))?.line ?? 0;
    for (const name of closure) {
      const manifest = instructions(build, 'COPY').find((c) => c.args.startsWith(`${dirOf(name)}/package.json `));
      expect(manifest?.line, `${name} package.json`).toBeLessThan(installAt);
      expect(sources, `${name} sources`).toContain(`${dirOf(name)}/`);
    }
    for (const file of ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', 'tsconfig.base.json'])
      expect(sources).toContain(file);
    for (const source of sources) {
      expect(existsSync(join(REPO_ROOT, source)), `${source} exists`).toBe(true);
      expect(isIgnored(source, dockerignore), `${source} is in the build context`).toBe(false);
    }
    // What must never be sent: installed or built output, which the image makes itself.
    for (const path of [
      'node_modules',
      `${pkg?.dir}/node_modules`,
      `${pkg?.dir}/dist`,
      'packages/verifier/dist/index.js',
      '.git',
      'e2e',
    ]) {
      expect(isIgnored(path, dockerignore), path).toBe(true);
    }
  });

  it('builds with tsc -b and deploys production dependencies only into /out', () => {
    expect(instructions(build, 'RUN').map((r) => r.args)).toContain(`pnpm exec tsc -b ${pkg?.dir}`);
    const deploy = instructions(build, 'RUN').find((r) => r.args.includes(' deploy '));
    expect(deploy?.args).toMatch(new RegExp(`^pnpm --filter ${image.package} deploy --prod --legacy /out( |$)`));
  });

  it('runs as the non-root node user, exposes the service port, and starts node dist/main.js', () => {
    const main = readFileSync(join(REPO_ROOT, pkg?.dir as string, 'src/main.ts'), 'utf8');
    const port = /LISTEN_ADDR \?\? '[^:']*:(\d+)'/.exec(main)?.[1];
    expect(port).toMatch(/^80\d\d$/);
    expect(instructions(final, 'USER').map((u) => u.args)).toEqual(['node']);
    expect(instructions(final, 'EXPOSE').map((e) => e.args)).toEqual([port]);
    expect(instructions(final, 'CMD').map((c) => JSON.parse(c.args) as unknown)).toEqual([['node', 'dist/main.js']]);
    expect(instructions(final, 'ENV').map((e) => e.args)).toContain('NODE_ENV=production');
    // Only the deployed directory reaches the final image: no sources, no dev dependencies, no pnpm.
    expect(instructions(final, 'COPY').map((c) => c.args)).toEqual(['--from=build /out ./']);
    expect(instructions(final, 'RUN')).toEqual([]);
    expect(instructions(final, 'HEALTHCHECK')).toEqual([]);
  });
});

it('the two Dockerfiles are the same recipe, but for the package and the port', () => {
  const normalise = (image: ImageSpec, port: string) =>
    readFileSync(join(REPO_ROOT, image.dockerfile), 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n')
      .replaceAll(image.package.split('/')[1] as string, 'PKG')
      .replace(`EXPOSE ${port}`, 'EXPOSE PORT');
  expect(normalise(IMAGES[0] as ImageSpec, '8080')).toBe(normalise(IMAGES[1] as ImageSpec, '8081'));
});

describe('the Dockerfiles parser', () => {
  it('joins continuation lines, skips comments and substitutes global ARGs', () => {
    const parsed = parseDockerfile(
      '# syntax=docker/dockerfile:1\nARG BASE=node:24\nFROM ${BASE} AS b\nRUN a \\\n # note\n && b\nFROM $BASE\nCMD ["x"]\n',
    );
    expect(parsed.globalArgs).toEqual({ BASE: 'node:24' });
    expect(parsed.stages.map((s) => [s.from, s.name])).toEqual([
      ['node:24', 'b'],
      ['node:24', undefined],
    ]);
    expect(parsed.stages[0]?.instructions).toEqual([{ keyword: 'RUN', args: 'a && b', line: 4 }]);
  });

  it('matches .dockerignore patterns at any depth, by prefix, and with exceptions', () => {
    const patterns = ['**/node_modules', 'e2e', '!e2e/package.json', '**/*.md'];
    expect(isIgnored('packages/x/node_modules/a/b.js', patterns)).toBe(true);
    expect(isIgnored('node_modules', patterns)).toBe(true);
    expect(isIgnored('e2e/src/a.ts', patterns)).toBe(true);
    expect(isIgnored('e2e/package.json', patterns)).toBe(false);
    expect(isIgnored('packages/verifier/README.md', patterns)).toBe(true);
    expect(isIgnored('packages/verifier/src/', patterns)).toBe(false);
  });
});

// The step of the image build that matters most, run for real: the Dockerfile's own `pnpm deploy` line (with /out
// pointing at a temp dir) must yield a directory that runs with production dependencies only.
describe('pnpm deploy, as in the Dockerfiles', () => {
  const dirs = new Map<string, string>();
  const children: Array<ReturnType<typeof spawn>> = [];

  beforeAll(async () => {
    for (const image of IMAGES) {
      const pkgDir = workspace.get(image.package)?.dir as string;
      if (!existsSync(join(REPO_ROOT, pkgDir, 'dist/main.js')))
        await runChecked(run, 'pnpm', ['exec', 'tsc', '-b', pkgDir], { cwd: REPO_ROOT });
      const build = parseDockerfile(readFileSync(join(REPO_ROOT, image.dockerfile), 'utf8')).stages[0] as Stage;
      const deploy = instructions(build, 'RUN').find((r) => r.args.includes(' deploy '))?.args as string;
      const out = mkdtempSync(join(tmpdir(), `ksa-deploy-${image.package.split('/')[1]}-`));
      rmSync(out, { recursive: true });
      // The exact RUN line, /out remapped; --prefer-offline reuses the local store like the image's install layer.
      const command = deploy.replaceAll('/out', out).replace(' deploy ', ' deploy --prefer-offline ');
      await runChecked(run, 'bash', ['-c', command], { cwd: REPO_ROOT, timeoutMs: 120_000 });
      dirs.set(image.package, out);
    }
  }, 240_000);

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of dirs.values()) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `node dist/main.js` from the deployed directory; resolves with its port, or with its exit and output. */
  function start(
    dir: string,
    env: Record<string, string>,
  ): Promise<{ port?: number; code?: number | null; output: string }> {
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ output: `${output}\n(no "listening" line within 15 s)` }), 15_000);
      const onLine = (line: string) => {
        output += `${line}\n`;
        const port = (/"msg":"listening"/.test(line) && (JSON.parse(line) as { port?: number }).port) || undefined;
        if (port) {
          clearTimeout(timer);
          resolve({ port, output });
        }
      };
      createInterface({ input: child.stdout }).on('line', onLine);
      createInterface({ input: child.stderr }).on('line', onLine);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  }

  it.each(IMAGES.map((i) => i.package))('%s: only production dependencies, workspace packages copied in', (name) => {
    const dir = dirs.get(name) as string;
    const pkg = workspace.get(name)?.pkg as PackageJson;
    const installed = readdirSync(join(dir, 'node_modules/.pnpm'));
    // A dev dependency of the service may be a run-time dependency of a workspace package (jose, of the verifier).
    const runtime = new Set(
      [...workspaceClosure(name)].flatMap((n) => Object.keys(workspace.get(n)?.pkg.dependencies ?? {})),
    );
    const devOnly = [...Object.keys(pkg.devDependencies ?? {}), 'typescript', 'vitest', 'eslint'].filter(
      (d) => !runtime.has(d),
    );
    expect(devOnly).toContain('supertest');
    for (const dev of devOnly) {
      expect(existsSync(join(dir, 'node_modules', dev)), dev).toBe(false);
      expect(
        installed.some((entry) => entry.startsWith(`${dev.replace('/', '+')}@`)),
        `${dev} in .pnpm`,
      ).toBe(false);
    }
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      const real = realpathSync(join(dir, 'node_modules', dep));
      expect(real.startsWith(realpathSync(dir)), `${dep} resolves inside the deployed directory`).toBe(true);
    }
    // The Dockerfile's clean-up ran: no sources, no compiled tests.
    expect(existsSync(join(dir, 'src'))).toBe(false);
    expect(readdirSync(join(dir, 'dist')).filter((f) => f.includes('.test.'))).toEqual([]);
    expect(lstatSync(join(dir, 'dist/main.js')).isFile()).toBe(true);
  });

  it('both services start from their deployed directories and talk to each other on loopback', async () => {
    const storeDir = dirs.get('@kube-service-auth/demo-store') as string;
    const apiDir = dirs.get('@kube-service-auth/demo-api') as string;
    // Everything points at loopback port 1, where nothing listens: no traffic leaves the machine.
    const kubeconfig = join(storeDir, 'kubeconfig');
    writeFileSync(kubeconfig, UNREACHABLE_KUBECONFIG);
    const store = await start(storeDir, {
      LISTEN_ADDR: '127.0.0.1:0',
      K8S_AUTH_ISSUER: 'https://127.0.0.1:1',
      K8S_AUTH_JWKS_URI: 'https://127.0.0.1:1/openid/v1/jwks',
      K8S_AUTH_KUBECONFIG: kubeconfig,
      K8S_AUTH_CA_FILE: 'none',
      K8S_AUTH_TOKEN_FILE: 'none',
    });
    expect(store.port, store.output).toBeGreaterThan(0);
    const storeUrl = `http://127.0.0.1:${store.port}/`;
    expect(await (await fetch(`${storeUrl}healthz`)).text()).toBe('ok');
    const missing = await fetch(storeUrl);
    expect([missing.status, await missing.text()]).toEqual([401, 'X-Client-Id not supplied']);
    // Not ready: the key set cannot be fetched.
    expect((await fetch(`${storeUrl}readyz`)).status).toBe(503);

    const tokenFile = join(apiDir, 'token');
    writeFileSync(tokenFile, 'not-a-token');
    const api = await start(apiDir, {
      LISTEN_ADDR: '127.0.0.1:0',
      TOKEN_FILE: tokenFile,
      DATA_STORE_CONNSTRING: storeUrl,
    });
    expect(api.port, api.output).toBeGreaterThan(0);
    const apiUrl = `http://127.0.0.1:${api.port}/`;
    expect((await fetch(`${apiUrl}healthz`)).status).toBe(200);
    expect((await fetch(`${apiUrl}readyz`)).status).toBe(200);
    const forwarded = await fetch(apiUrl);
    expect([forwarded.status, await forwarded.text()]).toEqual([403, 'Invalid token']);
  });

  it('refuses to start without its configuration, saying which variable is wrong', async () => {
    const store = await start(dirs.get('@kube-service-auth/demo-store') as string, { K8S_AUTH_MODE: 'both' });
    expect(store.code).toBe(2);
    expect(store.output).toContain('K8S_AUTH_MODE: expected local or tokenreview, got \\"both\\"');
    const api = await start(dirs.get('@kube-service-auth/demo-api') as string, {});
    expect(api.code).toBe(2);
    expect(api.output).toContain('DATA_STORE_CONNSTRING is required');
  });
});
