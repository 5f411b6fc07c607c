import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { parseListenAddr } from './listen-addr.js';

/** Something with express's `listen`. */
interface Listenable {
  listen(port: number, host: string, callback: () => void): Server;
}

/**
 * Listens on a Go-style `LISTEN_ADDR` and stops cleanly on SIGTERM/SIGINT (Kubernetes sends SIGTERM before it kills a
 * pod; in-flight requests finish, idle keep-alive connections are closed).
 */
export function serve(
  app: Listenable,
  listenAddr: string,
  logger: Logger,
  fields: Record<string, unknown> = {},
): Server {
  const { host, port } = parseListenAddr(listenAddr);
  const server = app.listen(port, host ?? '0.0.0.0', () => {
    const address = server.address();
    logger.info({ ...fields, port: typeof address === 'object' && address ? address.port : port }, 'listening');
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}
