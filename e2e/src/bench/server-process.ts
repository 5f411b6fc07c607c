import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onProcessExit } from '@kube-service-auth/testing';
import { pin } from './pinning.js';
import type { AuthConfig, ChildMessage, ParentMessage, ServerStats, Transport } from './protocol.js';

const SERVER_SCRIPT = fileURLToPath(new URL('./server.js', import.meta.url));

/**
 * The server under test in a child process (so that it has its own event loop and core), started with `--expose-gc`
 * so that memory can be read after a collection. Killed when this process exits, however it exits.
 */
export class ServerProcess {
  readonly url: string;
  readonly port: number;
  #child: ChildProcess;
  #unregister: () => void;
  #nextId = 0;
  #pending = new Map<number, (stats: ServerStats) => void>();

  private constructor(child: ChildProcess, port: number, unregister: () => void) {
    this.#child = child;
    this.url = `http://127.0.0.1:${port}/data`;
    this.port = port;
    this.#unregister = unregister;
    child.on('message', (message: ChildMessage) => {
      if (message.type !== 'stats') return;
      this.#pending.get(message.id)?.(message.stats);
      this.#pending.delete(message.id);
    });
  }

  /**
   * `execArgv` adds Node options to the child, e.g. `--cpu-prof` (the profile is written when {@link stop} ends it);
   * `cpus` pins all its threads to those CPUs (`taskset -c` list) before it starts serving.
   */
  static async start(
    auth: AuthConfig,
    timeoutMs = 30_000,
    execArgv: readonly string[] = [],
    transport: Transport = 'express',
    cpus?: string,
  ): Promise<ServerProcess> {
    const child = fork(SERVER_SCRIPT, [], {
      execArgv: ['--expose-gc', ...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    if (cpus !== undefined && child.pid !== undefined && !pin(child.pid, cpus)) {
      child.kill('SIGKILL');
      throw new Error(`could not pin the bench server to CPU ${cpus}`);
    }
    const unregister = onProcessExit(() => child.kill('SIGKILL'));
    try {
      let timer: NodeJS.Timeout | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`bench server (${auth.kind}) did not start within ${timeoutMs} ms`)),
          timeoutMs,
        );
        child.on('message', (message: ChildMessage) => {
          if (message.type === 'listening') resolve(message.port);
          if (message.type === 'failed') reject(new Error(`bench server (${auth.kind}) failed: ${message.message}`));
        });
        child.once('exit', (code, signal) =>
          reject(new Error(`bench server (${auth.kind}) exited (${signal ?? code})`)),
        );
        child.send({ type: 'start', auth, transport } satisfies ParentMessage);
      }).finally(() => {
        clearTimeout(timer);
        child.removeAllListeners('message');
        child.removeAllListeners('exit');
      });
      return new ServerProcess(child, port, unregister);
    } catch (error) {
      child.kill('SIGKILL');
      unregister();
      throw error;
    }
  }

  /** Counters and memory of the server; `gc` collects garbage first (twice) so that heap figures are live data. */
  stats(gc = false): Promise<ServerStats> {
    const id = ++this.#nextId;
    return new Promise<ServerStats>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error('bench server did not answer a stats request within 10 s'));
      }, 10_000);
      this.#pending.set(id, (stats) => {
        clearTimeout(timer);
        resolve(stats);
      });
      this.#child.send({ type: 'stats', id, gc } satisfies ParentMessage);
    });
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // Closing the IPC channel makes the child exit normally (so that --cpu-prof writes its profile); SIGTERM after a
      // grace period, SIGKILL as the last resort.
      if (child.connected) child.disconnect();
      const term = setTimeout(() => child.kill('SIGTERM'), 2000);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(term);
      clearTimeout(timer);
    }
    this.#unregister();
  }
}
