import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

/**
 * Synchronous cleanup actions run when this Node process exits or is interrupted. They must be synchronous: the
 * `exit` event gives no chance to await anything.
 */
const exitActions = new Set<() => void>();
let handlersInstalled = false;

function runExitActions(): void {
  // Last registered first, like `defer`: processes go before the dirs they write to.
  for (const action of [...exitActions].reverse()) {
    exitActions.delete(action);
    try {
      action();
    } catch {
      // Best effort: one failing action must not keep the others from running.
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runExitActions();
  reaper?.process.kill('SIGKILL');
  reaper = undefined;
  process.removeListener(signal, onSignal);
  // Installing a listener disabled Node's default "terminate on signal"; restore it unless someone else (e.g. the
  // test runner) also listens and therefore decides how to exit.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    runExitActions();
    // Killed last so that it cannot kill a recycled pid after the children are gone.
    reaper?.process.kill('SIGKILL');
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/**
 * Registers a synchronous action to run if the process exits before it is unregistered.
 * @returns a function that unregisters the action.
 */
export function onProcessExit(action: () => void): () => void {
  installHandlers();
  exitActions.add(action);
  return () => exitActions.delete(action);
}

/**
 * A watchdog shell that cleans up if this Node process dies without running its exit handlers (SIGKILL, a test runner
 * tearing a worker down hard). It learns pids and dirs on stdin and acts on EOF, which the kernel delivers when the
 * last writer, this process, goes away: our end of the pipe is close-on-exec, so no child holds it open.
 */
interface Reaper {
  process: ChildProcess;
  stdin: Writable;
}
let reaper: Reaper | undefined;

const REAPER_SCRIPT = `
trap '' INT HUP
declare -A pids=() dirs=()
while IFS= read -r line; do
  case "$line" in
    +pid:*) pids["\${line#+pid:}"]=1 ;;
    -pid:*) unset 'pids["\${line#-pid:}"]' ;;
    +dir:*) dirs["\${line#+dir:}"]=1 ;;
    -dir:*) unset 'dirs["\${line#-dir:}"]' ;;
  esac
done
if [ \${#pids[@]} -gt 0 ]; then
  kill -TERM "\${!pids[@]}" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "\${!pids[@]}" 2>/dev/null || break; sleep 0.3; done
  kill -KILL "\${!pids[@]}" 2>/dev/null
fi
if [ \${#dirs[@]} -gt 0 ]; then rm -rf -- "\${!dirs[@]}"; fi
`;

function reaperTell(line: string): void {
  if (!reaper) {
    const child = spawn('bash', ['-c', REAPER_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: false });
    child.on('error', () => {
      reaper = undefined;
    });
    child.unref();
    const stdin = child.stdin as Writable & { unref?: () => void };
    stdin.on('error', () => undefined);
    stdin.unref?.();
    reaper = { process: child, stdin };
    installHandlers();
  }
  reaper.stdin.write(`${line}\n`);
}

/**
 * Removes `dir` if this process exits, or dies outright, before the returned function is called.
 * @returns a function that cancels the removal (call it after removing the dir yourself, or to keep it).
 */
export function removeDirOnExit(dir: string): () => void {
  const unregister = onProcessExit(() => removeDirSync(dir));
  reaperTell(`+dir:${dir}`);
  return () => {
    unregister();
    reaperTell(`-dir:${dir}`);
  };
}

/** Reads the last `maxLines` lines of a log file, for error messages. */
export function tailFile(path: string, maxLines = 40): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    return lines.slice(-maxLines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A child process whose stdout and stderr go to a log file, and that cannot outlive this process. */
export class ManagedProcess {
  readonly pid: number;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  #child: ChildProcess;
  #exitCode: number | string | undefined;
  #unregister: () => void;

  private constructor(child: ChildProcess, pid: number, exit: Promise<number | string>) {
    this.#child = child;
    this.pid = pid;
    this.#unregister = onProcessExit(() => this.killNow());
    reaperTell(`+pid:${pid}`);
    this.exited = exit.then((code) => {
      this.#exitCode = code;
      this.#unregister();
      reaperTell(`-pid:${pid}`);
      return code;
    });
  }

  /**
   * Spawns `command` with its output appended to `logPath`.
   * @throws if the binary cannot be started at all.
   */
  static async spawn(command: string, args: readonly string[], logPath: string, banner = ''): Promise<ManagedProcess> {
    const fd = openSync(logPath, 'a');
    try {
      if (banner) writeSync(fd, `${banner}\n`);
      // The child gets its own copy of the descriptor, so ours can be closed right away.
      const child = spawn(command, args, { stdio: ['ignore', fd, fd], detached: false });
      // Listened to before anything is awaited, so that an early exit cannot be missed.
      const exit = new Promise<number | string>((resolve) => {
        child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      // Children must not keep the event loop alive if a test forgets stop(); the exit handlers still kill them.
      child.unref();
      return new ManagedProcess(child, child.pid as number, exit);
    } finally {
      closeSync(fd);
    }
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.#exitCode === undefined;
  }

  /** Exit code or signal, once exited. */
  get exitCode(): number | string | undefined {
    return this.#exitCode;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.#child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.#child.kill('SIGKILL');
      await this.exited;
    }
  }

  /** Synchronous SIGKILL, for exit handlers. */
  killNow(): void {
    if (this.running) this.#child.kill('SIGKILL');
  }
}

/** Removes a directory tree, ignoring errors (exit handlers must not throw). */
export function removeDirSync(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // ignore
  }
}
