import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cacheDir, locateBinaries } from './binaries.js';

// The built kit, as a user's test process loads it; these tests run after `pnpm build`.
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Runs `script` (an ES module) in a child Node process and resolves with its first stdout line, parsed as JSON. */
function runChild(script: string, env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const first = new Promise<unknown>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line)));
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing: ${stderr}`)));
  });
  return { child, first, stderr: () => stderr };
}

describe('cleanup when the test process dies', () => {
  it('kills etcd and kube-apiserver and removes the temp dir after a SIGKILL of the process that started them', async () => {
    const { child, first } = runChild(
      `import { ControlPlane } from ${JSON.stringify(DIST)};
       const plane = await ControlPlane.start();
       console.log(JSON.stringify({ ...plane.pids, dir: plane.dir }));
       setInterval(() => {}, 1000);`,
    );
    const started = (await first) as { etcd: number; apiServer: number; dir: string };
    expect(alive(started.etcd) && alive(started.apiServer) && existsSync(started.dir)).toBe(true);
    child.kill('SIGKILL');
    const deadline = Date.now() + 15_000;
    while ((alive(started.etcd) || alive(started.apiServer) || existsSync(started.dir)) && Date.now() < deadline)
      await sleep(100);
    expect({ etcd: alive(started.etcd), apiServer: alive(started.apiServer), dir: existsSync(started.dir) }).toEqual({
      etcd: false,
      apiServer: false,
      dir: false,
    });
  });
});

describe('binaries', () => {
  it('come from KUBEBUILDER_ASSETS first, then from the cache, without building anything', async () => {
    const cached = (await locateBinaries()).dir;
    const assets = await mkdtemp(join(tmpdir(), 'ksa-assets-'));
    try {
      await symlink(join(cached, 'etcd'), join(assets, 'etcd'));
      await symlink(join(cached, 'kube-apiserver'), join(assets, 'kube-apiserver'));
      const locate = `import { locateBinaries } from ${JSON.stringify(DIST)}; console.log(JSON.stringify((await locateBinaries()).dir));`;
      const fromAssets = runChild(locate, { ...process.env, KUBEBUILDER_ASSETS: assets });
      expect(await fromAssets.first).toBe(assets);

      // An incomplete KUBEBUILDER_ASSETS is reported, and the cache used; the build script never runs.
      const { KUBEBUILDER_ASSETS: _, ...rest } = process.env;
      const env =
        cached === cacheDir()
          ? { ...rest, KUBEBUILDER_ASSETS: tmpdir() }
          : { ...rest, KUBEBUILDER_ASSETS: tmpdir(), KSA_CACHE_DIR: join(cached, '../..') };
      const fromCache = runChild(locate, env);
      expect(await fromCache.first).toBe(cached);
      await new Promise((resolve) => fromCache.child.once('exit', resolve));
      expect(fromCache.stderr()).toContain('lacks executable etcd and kube-apiserver; falling back to the cache');
      expect(fromCache.stderr()).not.toMatch(/building|build-control-plane/);
    } finally {
      await rm(assets, { recursive: true, force: true });
    }
  });

  it('are cached under KSA_CACHE_DIR, keyed by both versions', () => {
    expect(cacheDir({ KSA_CACHE_DIR: '/c', K8S_VERSION: 'v1.2.3', ETCD_VERSION: 'v4.5.6' })).toBe(
      '/c/kube/v1.2.3-etcd-v4.5.6',
    );
    expect(cacheDir({ HOME: '/h' })).toMatch(/\/\.cache\/kube-service-auth\/kube\/v1\.36\.3-etcd-v3\.6\.16$/);
  });
});
