import { spawn } from 'node:child_process';

/** What a finished command left behind. `error` is set when it could not be started at all (e.g. `ENOENT`). */
export interface RunResult {
  command: string;
  args: readonly string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: NodeJS.ErrnoException;
  timedOut?: boolean;
}

/** Options of {@link Runner}. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Killed (SIGKILL) after this long; default: no limit. */
  timeoutMs?: number;
  /** Receives output as it comes (e.g. to show a long `docker build`). */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
}

/** Runs a command to completion. Injected everywhere, so that the driver logic is tested without the tools. */
export type Runner = (command: string, args: readonly string[], options?: RunOptions) => Promise<RunResult>;

/** Whether the command ran and exited 0. */
export function succeeded(result: RunResult): boolean {
  return result.error === undefined && result.code === 0 && !result.timedOut;
}

/** `docker build … failed (exit code 1): <last lines of stderr>`: what to print when a step fails. */
export function describeFailure(result: RunResult, tailLines = 15): string {
  const line = [result.command, ...result.args].join(' ');
  if (result.error?.code === 'ENOENT') return `${result.command}: not found on PATH`;
  if (result.error) return `${line} could not be started: ${result.error.message}`;
  const how = result.timedOut ? 'timed out' : result.signal ? `killed by ${result.signal}` : `exit code ${result.code}`;
  const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-tailLines).join('\n');
  return `${line} failed (${how})${output ? `:\n${output}` : ''}`;
}

/** The real {@link Runner}: `spawn` without a shell, output collected as UTF-8. */
export const run: Runner = (command, args, options = {}) =>
  new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let error: NodeJS.ErrnoException | undefined;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      options.onOutput?.(chunk, 'stdout');
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      options.onOutput?.(chunk, 'stderr');
    });
    child.once('error', (err) => {
      error = err;
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        command,
        args,
        code,
        signal,
        stdout,
        stderr,
        ...(error ? { error } : {}),
        ...(timedOut ? { timedOut } : {}),
      });
    });
  });

/** Runs a command and throws {@link describeFailure} unless it succeeds. */
export async function runChecked(
  runner: Runner,
  command: string,
  args: readonly string[],
  options?: RunOptions,
): Promise<RunResult> {
  const result = await runner(command, args, options);
  if (!succeeded(result)) throw new Error(describeFailure(result));
  return result;
}
