import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../deploy/manifests.js';
import { KIND_VITEST_CONFIG } from './commands.js';
import { run, type RunResult, type Runner } from './exec.js';
import { checkTools, detectContainerRuntime, formatToolReport, NO_CONTAINER_RUNTIME } from './tools.js';

type Reply = Partial<RunResult> | 'ENOENT';

/** A runner that answers from a table keyed by `command first-arg`. */
function fakeRunner(replies: Record<string, Reply>): Runner & { calls: string[] } {
  const calls: string[] = [];
  const runner = async (command: string, args: readonly string[]): Promise<RunResult> => {
    const key = `${command} ${args[0]}`;
    calls.push(key);
    const reply = replies[key] ?? 'ENOENT';
    if (reply === 'ENOENT') {
      const error = Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' });
      return { command, args, code: -2, signal: null, stdout: '', stderr: '', error };
    }
    return { command, args, code: 0, signal: null, stdout: '', stderr: '', ...reply };
  };
  return Object.assign(runner, { calls });
}

const ALL_PRESENT: Record<string, Reply> = {
  'docker --version': { stdout: 'Docker version 28.5.1, build e180ab8\n' },
  'kind version': { stdout: 'kind v0.30.0 go1.24.6 linux/amd64\n' },
  'kubectl version': { stdout: 'Client Version: v1.34.1\nKustomize Version: v5.7.1\n' },
  'docker info': { stdout: '28.5.1\n' },
};

const NO_ENGINE: Reply = {
  code: 1,
  stdout: '\n',
  stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n',
};

describe('prerequisite check', () => {
  it('passes with all three tools and a reachable engine', async () => {
    const checks = await checkTools(fakeRunner(ALL_PRESENT));
    expect(checks.map((c) => [c.name, c.ok, c.detail])).toEqual([
      ['docker', true, 'Docker version 28.5.1, build e180ab8'],
      ['kind', true, 'kind v0.30.0 go1.24.6 linux/amd64'],
      ['kubectl', true, 'Client Version: v1.34.1'],
      ['docker engine', true, 'server 28.5.1'],
    ]);
    expect(formatToolReport(checks)).not.toMatch(/MISSING/);
  });

  it('names every missing tool with what to do, not only the first', async () => {
    const checks = await checkTools(
      fakeRunner({ 'docker --version': ALL_PRESENT['docker --version']!, 'docker info': NO_ENGINE }),
    );
    const report = formatToolReport(checks);
    expect(checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['kind', 'kubectl', 'docker engine']);
    expect(report).toContain('MISSING kind           not found on PATH');
    expect(report).toContain('MISSING kubectl        not found on PATH');
    expect(report).toContain('MISSING docker engine  Cannot connect to the Docker daemon');
    expect(report).toContain('pnpm e2e needs kind, kubectl, docker engine:');
    expect(report).toMatch(/- kind: install kind/);
    expect(report).toMatch(/- docker engine: start the Docker daemon/);
  });

  it('does not ask the engine when the docker CLI itself is missing', async () => {
    const runner = fakeRunner({
      'kind version': ALL_PRESENT['kind version']!,
      'kubectl version': ALL_PRESENT['kubectl version']!,
    });
    const checks = await checkTools(runner);
    expect(checks.map((c) => `${c.name}:${c.ok}`)).toEqual(['docker:false', 'kind:true', 'kubectl:true']);
    expect(runner.calls).not.toContain('docker info');
  });

  it('reports a tool that runs but fails, with its error', async () => {
    const checks = await checkTools(
      fakeRunner({ ...ALL_PRESENT, 'kind version': { code: 1, stderr: 'kind: permission denied\n' } }),
    );
    expect(checks.find((c) => c.name === 'kind')).toMatchObject({
      ok: false,
      detail: expect.stringContaining('kind version failed (exit code 1)'),
    });
  });
});

describe('container runtime detection', () => {
  it('reports "no container runtime (docker engine not reachable)" when docker info cannot reach an engine', async () => {
    const status = await detectContainerRuntime(fakeRunner({ 'docker info': NO_ENGINE }));
    expect(status).toEqual({
      available: false,
      reason: 'no container runtime (docker engine not reachable)',
      detail: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
    });
  });

  it('reports "no container runtime (docker CLI not found)" without docker', async () => {
    expect(await detectContainerRuntime(fakeRunner({}))).toMatchObject({
      available: false,
      reason: 'no container runtime (docker CLI not found)',
    });
  });

  it('reports a hung engine as not reachable', async () => {
    const status = await detectContainerRuntime(
      fakeRunner({ 'docker info': { code: null, signal: 'SIGKILL', timedOut: true } }),
    );
    expect(status).toMatchObject({ available: false, reason: 'no container runtime (docker engine not reachable)' });
  });

  it('finds the engine version when one answers', async () => {
    expect(await detectContainerRuntime(fakeRunner(ALL_PRESENT))).toEqual({ available: true, version: '28.5.1' });
  });

  it('on this machine: tells whether a runtime is here, quickly', async () => {
    const started = Date.now();
    const status = await detectContainerRuntime(run);
    console.log(
      `container runtime here: ${status.available ? `docker engine ${status.version}` : `${status.reason}: ${status.detail}`}`,
    );
    if (!status.available) expect(status.reason.startsWith(NO_CONTAINER_RUNTIME)).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('the kind suite run on its own', () => {
  it('skips with the reason instead of failing when there is no runtime or no cluster', async () => {
    const status = await detectContainerRuntime(run);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
    delete env.KSA_KIND_KUBECONFIG;
    const result = await run(
      'pnpm',
      ['exec', 'vitest', 'run', '--config', KIND_VITEST_CONFIG, '--reporter', 'verbose'],
      {
        cwd: REPO_ROOT,
        env,
        timeoutMs: 90_000,
      },
    );
    // eslint-disable-next-line no-control-regex
    const output = (result.stdout + result.stderr).replace(/\x1b\[[0-9;]*m/g, '');
    expect(result.code, output).toBe(0);
    const expected = status.available ? 'skipped: no kind cluster' : 'skipped: no container runtime';
    expect(output).toContain(expected);
    expect(output).toMatch(/Tests\s+\d+ skipped \(\d+\)/);
    expect(output).not.toMatch(/\d+ passed/);
    expect(join(REPO_ROOT, KIND_VITEST_CONFIG)).toMatch(/vitest\.kind\.config\.ts$/);
  });
});
