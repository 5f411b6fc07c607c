import { describeFailure, succeeded, type Runner } from './exec.js';

/** The reason every container-based suite prints when it skips. */
export const NO_CONTAINER_RUNTIME = 'no container runtime';

/** One prerequisite of `pnpm e2e` and whether it is there. */
export interface ToolCheck {
  name: 'docker' | 'kind' | 'kubectl' | 'docker engine';
  ok: boolean;
  /** The tool's version line when found, else what went wrong. */
  detail: string;
  /** What to do about it (only when not ok). */
  hint?: string;
}

const HINTS: Record<ToolCheck['name'], string> = {
  docker:
    'install the Docker CLI and an engine (Docker Engine, Docker Desktop, or any engine the docker CLI reaches via DOCKER_HOST)',
  kind: 'install kind v0.20 or later (for example `go install sigs.k8s.io/kind@latest`) and put it on PATH',
  kubectl: 'install kubectl (within one minor version of the kind node image) and put it on PATH',
  'docker engine':
    'start the Docker daemon (or Docker Desktop), or point DOCKER_HOST at a running engine: `docker info` must succeed',
};

const firstLine = (text: string) => text.trim().split('\n')[0]?.trim() ?? '';

/** Checks for `docker`, `kind`, `kubectl` and a reachable Docker engine, without stopping at the first missing one. */
export async function checkTools(runner: Runner, timeoutMs = 20_000): Promise<ToolCheck[]> {
  const probe = async (name: ToolCheck['name'], command: string, args: string[]): Promise<ToolCheck> => {
    const result = await runner(command, args, { timeoutMs });
    if (succeeded(result)) return { name, ok: true, detail: firstLine(result.stdout) || firstLine(result.stderr) };
    return {
      name,
      ok: false,
      detail: result.error?.code === 'ENOENT' ? 'not found on PATH' : firstLine(describeFailure(result, 1)),
      hint: HINTS[name],
    };
  };
  const [docker, kind, kubectl] = await Promise.all([
    probe('docker', 'docker', ['--version']),
    probe('kind', 'kind', ['version']),
    probe('kubectl', 'kubectl', ['version', '--client']),
  ]);
  const checks = [docker, kind, kubectl];
  if (docker.ok) {
    const engine = await runtimeFromDockerInfo(runner, timeoutMs);
    checks.push(
      engine.available
        ? { name: 'docker engine', ok: true, detail: `server ${engine.version}` }
        : { name: 'docker engine', ok: false, detail: engine.detail, hint: HINTS['docker engine'] },
    );
  }
  return checks;
}

/** A human-readable summary: one line per check, then what is missing. */
export function formatToolReport(checks: readonly ToolCheck[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.map((c) => `  ${c.ok ? 'ok     ' : 'MISSING'} ${c.name.padEnd(width)}  ${c.detail}`);
  const missing = checks.filter((c) => !c.ok);
  if (missing.length === 0) return ['pnpm e2e prerequisites:', ...lines].join('\n');
  return [
    'pnpm e2e prerequisites:',
    ...lines,
    '',
    `pnpm e2e needs ${missing.map((c) => c.name).join(', ')}:`,
    ...missing.map((c) => `  - ${c.name}: ${c.hint ?? ''}`),
  ].join('\n');
}

/**
 * The one-line reason `pnpm e2e --if-available` prints when it skips: "no container runtime (…)" when Docker is the
 * problem, followed by any other missing tool.
 */
export function skipReason(checks: readonly ToolCheck[]): string | undefined {
  const missing = checks.filter((c) => !c.ok);
  if (missing.length === 0) return undefined;
  const docker = missing.find((c) => c.name === 'docker');
  const engine = missing.find((c) => c.name === 'docker engine');
  const others = missing.filter((c) => c !== docker && c !== engine).map((c) => c.name);
  const runtime = docker
    ? `${NO_CONTAINER_RUNTIME} (docker CLI not found)`
    : engine
      ? `${NO_CONTAINER_RUNTIME} (docker engine not reachable)`
      : undefined;
  if (!runtime) return `missing: ${others.join(', ')}`;
  return others.length ? `${runtime}; also missing: ${others.join(', ')}` : runtime;
}

/** Whether a container engine answers, and if not, the reason to print when skipping. */
export type RuntimeStatus = { available: true; version: string } | { available: false; reason: string; detail: string };

async function runtimeFromDockerInfo(runner: Runner, timeoutMs: number): Promise<RuntimeStatus> {
  const result = await runner('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs });
  if (result.error?.code === 'ENOENT') {
    return {
      available: false,
      reason: `${NO_CONTAINER_RUNTIME} (docker CLI not found)`,
      detail: 'docker: not found on PATH',
    };
  }
  const version = result.stdout.trim();
  // With no engine, `docker info` exits 1 (newer clients print the client part and the error on stderr).
  if (succeeded(result) && version && !/error/i.test(version)) return { available: true, version };
  const detail = firstLine(result.stderr) || firstLine(result.stdout) || describeFailure(result, 1);
  return { available: false, reason: `${NO_CONTAINER_RUNTIME} (docker engine not reachable)`, detail };
}

/**
 * Asks `docker info` whether an engine answers. It fails within a second when nothing listens on the socket; the
 * time-out only guards against a hung engine.
 */
export function detectContainerRuntime(runner: Runner, timeoutMs = 20_000): Promise<RuntimeStatus> {
  return runtimeFromDockerInfo(runner, timeoutMs);
}
