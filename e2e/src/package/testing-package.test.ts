import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packIntoConsumer, run, type PackedConsumer } from './packed-consumer.js';

// What `pnpm pack` of @kube-service-auth/testing ships, and what a consumer sees when it installs only the tarball and
// its runtime dependencies.

let packed: PackedConsumer;
let files: string[];

beforeAll(async () => {
  packed = await packIntoConsumer('@kube-service-auth/testing', ['@kubernetes/client-node', 'jose']);
  files = packed.files;
}, 120_000);

afterAll(async () => {
  await packed?.remove();
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
    // client-node 1.4's own declarations need @types/ws, which it does not depend on: not ours to fix.
    const ours = await packed.typecheck(
      `import { ControlPlane, TestCluster, type TestPod } from '@kube-service-auth/testing';
import { setup } from '@kube-service-auth/testing/global-setup';
export const start: () => Promise<ControlPlane> = () => ControlPlane.start();
export const connect = (): TestCluster => TestCluster.fromEnv();
export const token = (pod: TestPod): Promise<string> => pod.token({ audiences: ['store'] });
export const globalSetup = setup;
`,
      (line) => line.includes('@kube-service-auth/testing/') || line.startsWith('consumer.ts'),
    );
    expect(ours).toEqual([]);
    const script =
      "const kit = await import('@kube-service-auth/testing'); const gs = await import('@kube-service-auth/testing/global-setup'); console.log(typeof kit.ControlPlane.start, typeof gs.setup, kit.BUILD_SCRIPT.endsWith('node_modules/@kube-service-auth/testing/scripts/build-control-plane.sh'));";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: packed.dir });
    expect(stdout.trim()).toBe('function function true');
  });
});
