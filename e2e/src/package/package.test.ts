import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packIntoConsumer, run, type PackedConsumer } from './packed-consumer.js';

// What `pnpm pack` of @kube-service-auth/verifier ships, and what a consumer project sees when it installs only the
// tarball and its runtime dependencies: no express, fastify or grpc-js, and no @types/express.

let packed: PackedConsumer;
let files: string[];
let consumer: string;

beforeAll(async () => {
  packed = await packIntoConsumer('@kube-service-auth/verifier', [
    'jose',
    'node-cache',
    'undici',
    '@kubernetes/client-node',
    'fastify-plugin',
  ]);
  files = packed.files;
  consumer = packed.dir;
}, 120_000);

afterAll(async () => {
  await packed?.remove();
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
        'dist/adapters/express.js',
        'dist/adapters/fastify.js',
        'dist/adapters/grpc.js',
      ]),
    );
    // The library's folders, one level deep, and nothing but built modules and their declarations in them.
    const unexpected = files.filter(
      (f) =>
        !['package.json', 'README.md', 'LICENSE'].includes(f) && !/^dist\/(?:[a-z]+\/)?[\w-]+\.(js|d\.ts)$/.test(f),
    );
    expect(unexpected).toEqual([]);
  });

  it('ships no test, test helper, build info or source map', () => {
    expect(files.filter((f) => /\.test\.|^test\/|fake-|stub-|tsbuildinfo|\.map$/.test(f))).toEqual([]);
  });

  it('has no sourceMappingURL pointing at sources it does not ship', async () => {
    const dist = join(consumer, 'node_modules/@kube-service-auth/verifier/dist');
    const built = (await readdir(dist, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
    expect(built.length).toBeGreaterThan(40);
    for (const entry of built) {
      const file = join(entry.parentPath, entry.name);
      expect(await readFile(file, 'utf8'), file).not.toContain('sourceMappingURL');
    }
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
    // Errors in our declarations or in the consumer's code. @kubernetes/client-node 1.4's own declarations need @types/ws,
    // which it does not depend on: a strict consumer of client-node sees that with or without this package.
    const ours = await packed.typecheck(
      source,
      (line) => line.includes('@kube-service-auth/verifier/') || line.startsWith('consumer.ts'),
    );
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
