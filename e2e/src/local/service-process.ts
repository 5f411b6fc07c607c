import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Options of {@link ServiceProcess.start}. */
export interface ServiceProcessOptions {
  name: string;
  /** The compiled entry point, e.g. `packages/demo-store/dist/main.js`. */
  script: string;
  env: Record<string, string>;
  /** Receives each output line (JSON from pino, or the review the data store prints). */
  onLine?: (name: string, line: string) => void;
  startTimeoutMs?: number;
}

/**
 * A demo service as a real Node process on loopback (`LISTEN_ADDR=127.0.0.1:0`): started, waited for until it logs
 * the port it listens on, its output kept for assertions (e.g. that no token is ever logged), and stopped with SIGTERM.
 */
export class ServiceProcess {
  readonly lines: string[] = [];

  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly child: ChildProcess,
    lines: string[],
  ) {
    this.lines = lines;
  }

  static async start(options: ServiceProcessOptions): Promise<ServiceProcess> {
    const child = spawn(process.execPath, [options.script], {
      env: { PATH: process.env.PATH ?? '', ...options.env, LISTEN_ADDR: '127.0.0.1:0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `${options.name} did not start within ${options.startTimeoutMs ?? 15_000} ms:\n${lines.slice(-20).join('\n')}`,
            ),
          ),
        options.startTimeoutMs ?? 15_000,
      );
      const onLine = (line: string) => {
        lines.push(line);
        options.onLine?.(options.name, line);
        const parsed = parseJson(line);
        if (parsed?.msg === 'listening' && typeof parsed.port === 'number') {
          clearTimeout(timer);
          resolve(parsed.port);
        }
      };
      createInterface({ input: child.stdout }).on('line', onLine);
      createInterface({ input: child.stderr }).on('line', onLine);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${options.name} exited with code ${code}:\n${lines.slice(-20).join('\n')}`));
      });
    });
    const service = new ServiceProcess(options.name, `http://127.0.0.1:${port}/`, child, lines);
    process.once('exit', () => child.kill('SIGKILL'));
    return service;
  }

  /** Output lines that parse as JSON log records. */
  records(): Array<Record<string, unknown>> {
    return this.lines.map(parseJson).filter((r): r is Record<string, unknown> => r !== undefined);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
