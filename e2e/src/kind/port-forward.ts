import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { kubectl, type KubeConnection } from './commands.js';

/** A `Forwarding from 127.0.0.1:41234 -> 8080` line of `kubectl port-forward`. */
export interface ForwardingLine {
  address: string;
  localPort: number;
  remotePort: number;
}

/** Parses the line kubectl prints once it listens; undefined for any other line. */
export function parseForwardingLine(line: string): ForwardingLine | undefined {
  const match = /^Forwarding from (\[[^\]]+\]|[^\s:]+):(\d+) -> (\d+)\s*$/.exec(line.trim());
  if (!match) return undefined;
  return {
    address: (match[1] as string).replace(/^\[|\]$/g, ''),
    localPort: Number(match[2]),
    remotePort: Number(match[3]),
  };
}

/**
 * Whether a line reports that the forward is broken for good (the pod went away): kubectl then needs a restart.
 * Connection-level errors (`Handling connection for`) are not.
 */
export function isFatalForwardError(line: string): boolean {
  return /lost connection to pod|unable to forward port because pod is not running|error upgrading connection|pods? "[^"]*" not found/i.test(
    line,
  );
}

/** kubectl processes still running, killed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Options of {@link PortForward.start}. */
export interface PortForwardOptions {
  connection: KubeConnection;
  namespace: string;
  /** `svc/app`, `deploy/intruder`, `pod/x`. */
  target: string;
  remotePort: number;
  /** kubectl executable (default `kubectl`). */
  kubectl?: string;
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

/**
 * `kubectl port-forward` to 127.0.0.1 on a port kubectl picks, kept alive: when the pod behind it goes away (kubectl
 * exits or reports a lost connection), it is restarted on the same local port, so the URL stays valid.
 */
export class PortForward {
  #child: ChildProcess | undefined;
  #stopped = false;
  #localPort = 0;
  #starting: Promise<void> | undefined;

  private constructor(private readonly options: PortForwardOptions) {}

  static async start(options: PortForwardOptions): Promise<PortForward> {
    const forward = new PortForward(options);
    await forward.#spawn();
    return forward;
  }

  get localPort(): number {
    return this.#localPort;
  }

  /** `http://127.0.0.1:<port>/`. */
  get url(): string {
    return `http://127.0.0.1:${this.#localPort}/`;
  }

  /** Kills kubectl and starts it again on the same port (e.g. after the pod was deleted). */
  restart(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    child?.kill('SIGTERM');
    return this.#ensureRunning();
  }

  stop(): void {
    this.#stopped = true;
    this.#child?.kill('SIGTERM');
    this.#child = undefined;
  }

  /** One (re)start at a time: a restart asked for while kubectl is already being restarted joins that one. */
  #ensureRunning(): Promise<void> {
    this.#starting ??= this.#spawnWithRetry().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #spawnWithRetry(): Promise<void> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 120_000);
    for (;;) {
      if (this.#stopped) return;
      try {
        await this.#spawn();
        return;
      } catch (err) {
        // The pod may not run yet, or the old kubectl may still hold the port.
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  #spawn(): Promise<void> {
    const o = this.options;
    const args = kubectl.portForward(o.connection, {
      namespace: o.namespace,
      target: o.target,
      remotePort: o.remotePort,
      localPort: this.#localPort,
    });
    const child = spawn(o.kubectl ?? 'kubectl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    this.#child = child;
    const label = `port-forward ${o.namespace}/${o.target}`;
    const timeoutMs = o.startTimeoutMs ?? 30_000;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(new Error(`${label}: no "Forwarding from" line within ${timeoutMs} ms`));
      }, timeoutMs);
      const onLine = (line: string) => {
        const parsed = parseForwardingLine(line);
        if (parsed && !ready) {
          ready = true;
          this.#localPort = parsed.localPort;
          clearTimeout(timer);
          o.log?.(`${label}: 127.0.0.1:${parsed.localPort} -> ${parsed.remotePort}`);
          resolve();
          return;
        }
        if (!/^Handling connection for/.test(line)) o.log?.(`${label}: ${line}`);
        if (isFatalForwardError(line)) child.kill('SIGTERM');
      };
      createInterface({ input: child.stdout }).on('line', onLine);
      createInterface({ input: child.stderr }).on('line', onLine);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        live.delete(child);
        clearTimeout(timer);
        if (this.#child === child) this.#child = undefined;
        if (!ready) {
          reject(new Error(`${label} exited (${signal ?? `code ${code}`}) before forwarding`));
          return;
        }
        // It was forwarding and nobody replaced or stopped it: the pod went away. Come back on the same port.
        if (!this.#stopped && this.#child === undefined) {
          setTimeout(() => {
            if (!this.#stopped && this.#child === undefined) {
              this.#ensureRunning().catch((err: unknown) => o.log?.(`${label}: restart failed: ${String(err)}`));
            }
          }, 1000);
        }
      });
    });
  }
}
