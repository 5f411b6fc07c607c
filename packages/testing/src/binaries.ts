import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Paths of the control-plane executables. */
export interface ControlPlaneBinaries {
  /** Directory holding both executables. */
  dir: string;
  etcd: string;
  kubeApiServer: string;
}

/** Version of kube-apiserver the kit builds and caches (override with `K8S_VERSION`). */
export const KUBERNETES_VERSION = 'v1.36.3';
/** Version of etcd the kit builds and caches (override with `ETCD_VERSION`). */
export const ETCD_VERSION = 'v3.6.16';

/**
 * The script that builds etcd and kube-apiserver from their Go modules. It is found relative to this module, which sits
 * at the same depth in `src/` and in `dist/`; the package ships it under `scripts/`.
 */
export const BUILD_SCRIPT = fileURLToPath(new URL('../scripts/build-control-plane.sh', import.meta.url));

/**
 * Where built binaries are cached: `$KSA_CACHE_DIR/kube/<k8s>-etcd-<etcd>`, with `KSA_CACHE_DIR` defaulting to
 * `~/.cache/kube-service-auth`. The build script uses the same layout.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.KSA_CACHE_DIR || join(homedir(), '.cache', 'kube-service-auth');
  return join(root, 'kube', `${env.K8S_VERSION || KUBERNETES_VERSION}-etcd-${env.ETCD_VERSION || ETCD_VERSION}`);
}

/** The executables in `dir`, or `undefined` unless both are there and executable. */
export function binariesIn(dir: string): ControlPlaneBinaries | undefined {
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
      else reject(new Error(`${script} failed (${signal ?? `exit code ${code}`}); its output above says why`));
    });
  });
}

let located: Promise<ControlPlaneBinaries> | undefined;

/**
 * Finds etcd and kube-apiserver, in this order:
 * 1. `$KUBEBUILDER_ASSETS`, when it holds both (the controller-runtime envtest convention);
 * 2. the kit's cache, {@link cacheDir};
 * 3. a build from source by {@link BUILD_SCRIPT} (needs Go ≥ 1.26 and the Go module proxy; 10–20 minutes on 2
 *    cores, once: the result goes to the cache). A message on stderr says so before it starts.
 *
 * The result is memoised, so that concurrent callers share one build; the script also takes a lock, so that
 * parallel test processes build once.
 * @throws if no source yields both executables.
 */
export function locateBinaries(): Promise<ControlPlaneBinaries> {
  located ??= (async () => {
    const assets = process.env.KUBEBUILDER_ASSETS;
    if (assets) {
      const fromEnv = binariesIn(assets);
      if (fromEnv) return fromEnv;
      process.stderr.write(
        `[kube-service-auth/testing] KUBEBUILDER_ASSETS=${assets} lacks executable etcd and kube-apiserver; falling back to the cache\n`,
      );
    }
    const cached = binariesIn(cacheDir());
    if (cached) return cached;
    process.stderr.write(
      `[kube-service-auth/testing] building etcd ${process.env.ETCD_VERSION || ETCD_VERSION} and kube-apiserver ` +
        `${process.env.K8S_VERSION || KUBERNETES_VERSION} from their Go modules into ${cacheDir()}: once per machine, ` +
        `10-20 minutes on 2 cores (set KUBEBUILDER_ASSETS to a directory holding both to skip this)\n`,
    );
    const started = Date.now();
    const dir = await runBuildScript(BUILD_SCRIPT);
    const built = binariesIn(dir);
    if (!built) throw new Error(`${BUILD_SCRIPT} printed ${dir}, which lacks executable etcd and kube-apiserver`);
    process.stderr.write(
      `[kube-service-auth/testing] built in ${Math.round((Date.now() - started) / 1000)} s: ${dir}\n`,
    );
    return built;
  })();
  // A failed attempt must not be cached: the next caller may have fixed the environment.
  located.catch(() => (located = undefined));
  return located;
}
