import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** A workspace package packed with `pnpm pack` and installed, alone, into a consumer project. */
export interface PackedConsumer {
  /** Paths inside the tarball, without the leading `package/`. */
  files: string[];
  /** The consumer project: the tarball under `node_modules/<name>`, its runtime dependencies, @types/node. */
  dir: string;
  /** Where the package is installed in the consumer. */
  installed: string;
  /** Writes `consumer.ts` and type-checks the consumer (strict, skipLibCheck off); the lines naming `keep`. */
  typecheck(source: string, keep: (line: string) => boolean): Promise<string[]>;
  remove(): Promise<void>;
}

/**
 * Packs `packages/<name>` and installs the tarball into a fresh consumer project next to its runtime dependencies as
 * pnpm installed them (their own dependencies resolve next to their real paths) and nothing else: what a user who
 * installs the published package gets.
 */
export async function packIntoConsumer(
  packageName: string,
  runtimeDependencies: readonly string[],
): Promise<PackedConsumer> {
  const pkg = join(ROOT, 'packages', packageName.replace(/^@kube-service-auth\//, ''));
  const root = await mkdtemp(join(tmpdir(), 'ksa-pack-'));
  const { stdout } = await run('pnpm', ['pack', '--pack-destination', root], { cwd: pkg });
  const tarball = stdout.trim().split('\n').pop() as string;
  const files = (await run('tar', ['-tzf', tarball])).stdout
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  const dir = join(root, 'consumer');
  const installed = join(dir, 'node_modules', packageName);
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  for (const name of [...runtimeDependencies, '@types/node']) {
    const from = await realpath(join(name === '@types/node' ? ROOT : pkg, 'node_modules', name));
    await mkdir(dirname(join(dir, 'node_modules', name)), { recursive: true });
    await symlink(from, join(dir, 'node_modules', name));
  }
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const compilerOptions = {
    module: 'NodeNext',
    target: 'ES2022',
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    types: ['node'],
  };
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'] }));
  return {
    files,
    dir,
    installed,
    async typecheck(source, keep) {
      await writeFile(join(dir, 'consumer.ts'), source);
      const output = await run(process.execPath, [TSC, '-p', dir]).then(
        () => '',
        (err: { stdout: string }) => err.stdout,
      );
      return output.split('\n').filter(keep);
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
