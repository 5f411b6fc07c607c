/**
 * The servers of section 3, forked by the bench so that they do not share an event loop with the load generator: one
 * express app per configuration, each on its own port on 127.0.0.1, all answering `GET /data` with the same body.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ErrorRequestHandler } from 'express';
import { auth } from 'express-oauth2-jwt-bearer';
import { expressApp } from './adapters.js';
import { AUDIENCE, ISSUER, localVerifier } from './tokens.js';

export type WireId = 'none' | 'none-aa' | 'ours' | 'ours-off' | 'oauth2';
export type ToServer = { type: 'start'; jwksUri: string } | { type: 'cpu' };
export type FromServer = { type: 'ports'; ports: Record<WireId, number> } | { type: 'cpu'; micros: number };

async function listen(app: ReturnType<typeof expressApp>): Promise<number> {
  // express-oauth2-jwt-bearer passes a rejection on as an error with a status: answer it without a stack page.
  const onError: ErrorRequestHandler = (err: { status?: number }, _req, res, _next) => {
    res.status(err.status ?? 500).end();
  };
  app.use(onError);
  const server = createServer(app);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function start(jwksUri: string): Promise<Record<WireId, number>> {
  const ours = async (cacheTtlSeconds: number) =>
    listen(expressApp('ours', await localVerifier(jwksUri, cacheTtlSeconds)));
  return {
    none: await listen(expressApp('none')),
    'none-aa': await listen(expressApp('none')),
    ours: await ours(600),
    'ours-off': await ours(0),
    // It cannot send a bearer token to fetch a key set, so it reads the loopback key server directly, as it would a
    // copy of the API server's JWKS.
    oauth2: await listen(expressApp(auth({ issuer: ISSUER, audience: AUDIENCE, jwksUri, tokenSigningAlg: 'RS256' }))),
  };
}

const send = (message: FromServer) => process.send?.(message);
process.on('disconnect', () => process.exit(0));
process.on('message', (message: ToServer) => {
  if (message.type === 'start')
    start(message.jwksUri).then(
      (ports) => send({ type: 'ports', ports }),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  else {
    const u = process.cpuUsage();
    send({ type: 'cpu', micros: u.user + u.system });
  }
});
