import { Agent, createServer as createHttpServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { HttpAnswer } from './registry.js';

/** Listens on an ephemeral loopback port and resolves with it. */
async function listen(server: Server | TcpServer): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return address.port;
}

/**
 * An HTTP server on loopback that counts every request it gets and answers with a JWK Set of the attacker's choosing:
 * the target of `jku` / `x5u` headers, which a verifier must never fetch.
 */
export class HitCounter {
  hits = 0;
  url = '';
  private readonly server: Server;

  private constructor(body: unknown) {
    this.server = createHttpServer((_req, res) => {
      this.hits++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    });
  }

  static async start(body: unknown): Promise<HitCounter> {
    const counter = new HitCounter(body);
    counter.url = `http://127.0.0.1:${await listen(counter.server)}`;
    return counter;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/**
 * A TCP proxy on loopback in front of the real API server (TLS passes through untouched; its certificate names
 * 127.0.0.1, so any port will do). While `delayMs` is set, every chunk a client sends is held back that long before it
 * is forwarded, in order, on new and kept-alive connections alike: a slow network or an overloaded API server, without
 * faking any answer.
 */
export class SlowProxy {
  delayMs = 0;
  connections = 0;
  port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly clients = new Set<Socket>();
  private readonly server: TcpServer;

  private constructor(targetPort: number) {
    this.server = createTcpServer((client) => this.accept(client, targetPort));
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Client connections open right now (a request that gave up and closed its socket no longer counts). */
  get openConnections(): number {
    return this.clients.size;
  }

  static async start(targetPort: number): Promise<SlowProxy> {
    const proxy = new SlowProxy(targetPort);
    proxy.port = await listen(proxy.server);
    return proxy;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket, targetPort: number): void {
    this.connections++;
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    let chain = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      const delay = this.delayMs;
      chain = chain
        .then(() => (delay > 0 ? new Promise((resolve) => setTimeout(resolve, delay)) : undefined))
        .then(() => {
          if (!upstream.destroyed) upstream.write(chunk);
        });
    });
    upstream.pipe(client);
  }
}

const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

/** Closes the keep-alive connections of {@link get}. */
export function closeAgent(): void {
  agent.destroy();
}

/**
 * GET with arbitrary header values. `node:http` sends latin1 values (what `fetch` refuses), so this is how the suite
 * sends non-ASCII bytes. Resolves with the status and the data store's `X-Auth-Reason`; never rejects on a status.
 */
export function get(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<HttpAnswer & { body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const reason = res.headers['x-auth-reason'];
        resolve({
          status: res.statusCode ?? 0,
          reason: typeof reason === 'string' ? reason : null,
          body,
          headers: res.headers,
        });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout requesting ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Sends a request whose header block is given as raw bytes (duplicated headers, UTF-8 bytes, control characters, sizes
 * past the server's limit): what a hostile client can put on the wire. `headerBlock` is header lines, each ending in
 * CRLF. Parses the status line and `X-Auth-Reason`; status 0 means the server closed the connection without an answer
 * (as Node does while a client is still sending a header block far past its limit).
 */
export function rawGet(url: string, headerBlock: Buffer | string): Promise<HttpAnswer> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let failure: NodeJS.ErrnoException | undefined;
    socket.setTimeout(15_000, () => socket.destroy(new Error(`timeout requesting ${url}`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => (failure = err));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (status?.[1]) {
        const head = text.split('\r\n\r\n')[0] ?? '';
        const reason = /^x-auth-reason: *(.*)$/im.exec(head)?.[1]?.trim() ?? null;
        resolve({ status: Number(status[1]), reason });
      } else if (failure?.code === 'ECONNRESET' || failure?.code === 'EPIPE') {
        resolve({ status: 0, reason: null });
      } else {
        reject(failure ?? new Error(`no HTTP answer from ${url}: ${JSON.stringify(text.slice(0, 200))}`));
      }
    });
    const block = typeof headerBlock === 'string' ? Buffer.from(headerBlock, 'latin1') : headerBlock;
    socket.end(
      Buffer.concat([
        Buffer.from(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n`, 'latin1'),
        block,
        Buffer.from('\r\n', 'latin1'),
      ]),
    );
  });
}

/** Reads one counter of a Prometheus text exposition, summed over the series whose labels contain `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
