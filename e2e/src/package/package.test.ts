import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// What `pnpm pack` of @kube-service-auth/verifier ships, and what a consumer project sees when it installs only the
// tarball and its runtime dependencies: no express, fastify or grpc-js, and no @types/express.

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGE = join(ROOT, 'packages/verifier');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const RUNTIME_DEPENDENCIES = ['jose', 'node-cache', 'undici', '@kubernetes/client-node', 'fastify-plugin'];

let dir: string;
let files: string[];
let consumer: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksa-pack-'));
  const { stdout } = await run('pnpm', ['pack', '--pack-destination', dir], { cwd: PACKAGE });
  const tarball = stdout.trim().split('\n').pop() as string;
  files = (await run('tar', ['-tzf', tarball])).stdout
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  consumer = join(dir, 'consumer');
  const installed = join(consumer, 'node_modules/@kube-service-auth/verifier');
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  // The runtime dependencies as pnpm installed them (their own dependencies resolve next to their real paths).
  for (const name of [...RUNTIME_DEPENDENCIES, '@types/node']) {
    const from = await realpath(join(name === '@types/node' ? ROOT : PACKAGE, 'node_modules', name));
    await mkdir(dirname(join(consumer, 'node_modules', name)), { recursive: true });
    await symlink(from, join(consumer, 'node_modules', name));
  }
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await writeFile(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        target: 'ES2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      include: ['*.ts'],
    }),
  );
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the built library, its README and LICENSE, and nothing else', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'LICENSE',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/express.js',
        'dist/fastify.js',
        'dist/grpc.js',
      ]),
    );
    const unexpected = files.filter(
      (f) => !['package.json', 'README.md', 'LICENSE'].includes(f) && !/^dist\/[\w-]+\.(js|d\.ts)$/.test(f),
    );
    expect(unexpected).toEqual([]);
  });

  it('ships no test, test helper, build info or source map', () => {
    expect(files.filter((f) => /\.test\.|test-support|tsbuildinfo|\.map$/.test(f))).toEqual([]);
  });

  it('has no sourceMappingURL pointing at sources it does not ship', async () => {
    const dist = join(consumer, 'node_modules/@kube-service-auth/verifier/dist');
    for (const file of await readdir(dist))
      expect(await readFile(join(dist, file), 'utf8'), file).not.toContain('sourceMappingURL');
  });

  it('names an Apache-2.0 LICENSE, as package.json says', async () => {
    const installed = join(consumer, 'node_modules/@kube-service-auth/verifier');
    expect(JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'))).toMatchObject({
      license: 'Apache-2.0',
    });
    expect(await readFile(join(installed, 'LICENSE'), 'utf8')).toMatch(
      /^\s*Apache License\s+Version 2\.0, January 2004/,
    );
  });
});

describe('a consumer with the tarball and its runtime dependencies only', () => {
  const typecheck = async (source: string) => {
    await writeFile(join(consumer, 'consumer.ts'), source);
    const output = await run(process.execPath, [TSC, '-p', consumer]).then(
      () => '',
      (err: { stdout: string }) => err.stdout,
    );
    // Errors in our declarations or in the consumer's code. @kubernetes/client-node 1.4's own declarations need @types/ws,
    // which it does not depend on: a strict consumer of client-node sees that with or without this package.
    const ours = output
      .split('\n')
      .filter((line) => line.includes('@kube-service-auth/verifier/') || line.startsWith('consumer.ts'));
    return { ok: ours.length === 0, output: ours.join('\n') };
  };

  it('type-checks the root entry (with skipLibCheck off) without @types/express', async () => {
    const result = await typecheck(`
import { createAuthenticate, kubeAuthFromEnv, Policy, type Authentication, type KubeAuth } from '@kube-service-auth/verifier';
const auth: KubeAuth = await kubeAuthFromEnv();
const authenticate = createAuthenticate({ verifier: auth.verifier, policy: new Policy({ allow: ['api:api'] }) });
export const outcome: Authentication | Promise<Authentication> = authenticate({ token: 'Bearer x.y.z', method: 'GET', path: '/' });
export const configured = createAuthenticate(auth.adapterOptions());
`);
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  });

  it('cannot type-check the express entry without express types (the check can fail)', async () => {
    const result = await typecheck(
      `import { kubeAuth } from '@kube-service-auth/verifier/express';\nexport const m = kubeAuth;\n`,
    );
    expect(result.ok).toBe(false);
    expect(result.output).toContain("Cannot find module 'express'");
  });

  it('imports the root entry at run time without express, fastify or grpc-js installed', async () => {
    const script =
      "const m = await import('@kube-service-auth/verifier'); console.log(typeof m.createAuthenticate, typeof m.kubeAuthFromEnv);";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: consumer });
    expect(stdout.trim()).toBe('function function');
    // The gRPC entry needs its peer, which is not installed here.
    await expect(
      run(process.execPath, ['--input-type=module', '-e', "await import('@kube-service-auth/verifier/grpc')"], {
        cwd: consumer,
      }),
    ).rejects.toThrow(/@grpc\/grpc-js/);
  });
});
