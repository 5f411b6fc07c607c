import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Paths of the control-plane executables. */
export interface ControlPlaneBinaries {
  /** Directory holding both executables. */
  dir: string;
  etcd: string;
  kubeApiServer: string;
}

/** The script is found relative to this module, which sits at the same depth in `src/` and in `dist/`. */
export const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build-control-plane.sh', import.meta.url));

function binariesIn(dir: string): ControlPlaneBinaries | undefined {
  const found = { dir, etcd: join(dir, 'etcd'), kubeApiServer: join(dir, 'kube-apiserver') };
  try {
    accessSync(found.etcd, constants.X_OK);
    accessSync(found.kubeApiServer, constants.X_OK);
    return found;
  } catch {
    return undefined;
  }
}

function runBuildScript(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Progress (stderr) goes straight to ours: the first build takes many minutes and should not look stuck.
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const lastLine = stdout.trimEnd().split('\n').pop()?.trim() ?? '';
      if (code === 0 && lastLine) resolve(lastLine);
      else reject(new Error(`${script} failed (${signal ?? `exit code ${code}`})`));
    });
  });
}

let located: Promise<ControlPlaneBinaries> | undefined;

/**
 * Finds etcd and kube-apiserver: `$KUBEBUILDER_ASSETS` when it holds both, otherwise the directory printed by
 * `e2e/scripts/build-control-plane.sh` (which builds them on first use and caches them). The result is memoised so that
 * concurrent callers share one build.
 * @throws if neither source yields both executables.
 */
export function locateBinaries(): Promise<ControlPlaneBinaries> {
  located ??= (async () => {
    const assets = process.env.KUBEBUILDER_ASSETS;
    const fromEnv = assets ? binariesIn(assets) : undefined;
    if (fromEnv) return fromEnv;
    const dir = await runBuildScript(BUILD_SCRIPT);
    const built = binariesIn(dir);
    if (!built) throw new Error(`${BUILD_SCRIPT} printed ${dir}, which lacks executable etcd and kube-apiserver`);
    return built;
  })();
  // A failed attempt must not be cached: the next caller may have fixed the environment.
  located.catch(() => (located = undefined));
  return located;
}
