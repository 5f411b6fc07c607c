import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// What `pnpm pack` of @kube-service-auth/testing ships, and what a consumer sees when it installs only the tarball and
// its runtime dependencies.

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGE = join(ROOT, 'packages/testing');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const RUNTIME_DEPENDENCIES = ['@kubernetes/client-node', 'jose'];

let dir: string;
let files: string[];
let consumer: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksa-pack-testing-'));
  const { stdout } = await run('pnpm', ['pack', '--pack-destination', dir], { cwd: PACKAGE });
  const tarball = stdout.trim().split('\n').pop() as string;
  files = (await run('tar', ['-tzf', tarball])).stdout
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  consumer = join(dir, 'consumer');
  const installed = join(consumer, 'node_modules/@kube-service-auth/testing');
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
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

describe('the packed testing kit', () => {
  it('holds the built kit, the build script, its README and LICENSE, and nothing else', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'LICENSE',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/global-setup.js',
        'scripts/build-control-plane.sh',
      ]),
    );
    const unexpected = files.filter(
      (f) =>
        !['package.json', 'README.md', 'LICENSE', 'scripts/build-control-plane.sh'].includes(f) &&
        !/^dist\/[\w-]+\.(js|d\.ts)$/.test(f),
    );
    expect(unexpected).toEqual([]);
  });

  it('ships no test, example, timing script, build info or source map', () => {
    expect(files.filter((f) => /\.test\.|examples|timings|tsbuildinfo|\.map$/.test(f))).toEqual([]);
  });

  it('type-checks a consumer of both entries (with skipLibCheck off) and imports them without vitest installed', async () => {
    await writeFile(
      join(consumer, 'consumer.ts'),
      `import { ControlPlane, TestCluster, type TestPod } from '@kube-service-auth/testing';
import { setup } from '@kube-service-auth/testing/global-setup';
export const start: () => Promise<ControlPlane> = () => ControlPlane.start();
export const connect = (): TestCluster => TestCluster.fromEnv();
export const token = (pod: TestPod): Promise<string> => pod.token({ audiences: ['store'] });
export const globalSetup = setup;
`,
    );
    const output = await run(process.execPath, [TSC, '-p', consumer]).then(
      () => '',
      (err: { stdout: string }) => err.stdout,
    );
    // client-node 1.4's own declarations need @types/ws, which it does not depend on: not ours to fix.
    expect(
      output
        .split('\n')
        .filter((line) => line.includes('@kube-service-auth/testing/') || line.startsWith('consumer.ts')),
    ).toEqual([]);
    const script =
      "const kit = await import('@kube-service-auth/testing'); const gs = await import('@kube-service-auth/testing/global-setup'); console.log(typeof kit.ControlPlane.start, typeof gs.setup, kit.BUILD_SCRIPT.endsWith('node_modules/@kube-service-auth/testing/scripts/build-control-plane.sh'));";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: consumer });
    expect(stdout.trim()).toBe('function function true');
  });
});
