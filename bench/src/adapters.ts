/**
 * Section 1: what each adapter adds to a request of a repeat caller (the same valid token every time, result cache
 * on), in this process, without a socket, against three paths of the same framework: no auth, no auth again (A/A),
 * and a hash-only control that computes `crypto.hash('sha256', token)` of the token taken from the header and does
 * nothing else — the least any cache that binds the whole token can do.
 *
 * - express and fastify: a fresh `http.IncomingMessage` and `ServerResponse` per request, as node's HTTP server
 *   creates them but with no socket (the response buffers what it would write), handed to the express app as to a
 *   request listener, and to fastify's `routing` (the listener its server calls); the route answers with `send`, as a
 *   real one does. Everything runs synchronously on a repeat caller; a request that does not end with 200 before the
 *   call returns fails the bench. (fastify's `inject()` goes through light-my-request, which adds ~50 µs per request
 *   here and completes its writes in a later `setImmediate`: far more noise than the few µs being measured.)
 * - gRPC: a unary call through the server interceptor as grpc-js drives one (metadata, message, half-close, then
 *   response metadata, message, status), against the same call with no interceptor.
 */
import { hash } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';
import { Policy, ServiceAccountVerifier, type LocalVerifier } from '@kube-service-auth/verifier';
import { kubeAuth } from '@kube-service-auth/verifier/express';
import { fastifyKubeAuth } from '@kube-service-auth/verifier/fastify';
import { kubeAuthInterceptor } from '@kube-service-auth/verifier/grpc';
import express, { type RequestHandler } from 'express';
import Fastify from 'fastify';
import type { Path } from './paired.js';

export const BODY = 'Hello from data store. You have been authenticated';
export type Guard = 'none' | 'hash' | 'ours';
export const POLICY = new Policy({ allow: ['system:serviceaccount:api:*'] });

/** The hash-only control's work: SHA-256 of the token after `Bearer `. */
export function hashToken(header: string | undefined): void {
  if (header !== undefined) hash('sha256', header.slice(7));
}

function ok(status: number, what: string): void {
  if (status !== 200) throw new Error(`${what}: status ${status}`);
}

/** An express 5 app with `GET /data` behind the guard, as the wire section serves it too. */
export function expressApp(guard: Guard | RequestHandler, local?: LocalVerifier): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const handler: RequestHandler = (_req, res) => {
    res.type('text/plain').send(BODY);
  };
  const middleware: RequestHandler | undefined =
    typeof guard === 'function'
      ? guard
      : guard === 'hash'
        ? (req, _res, next) => {
            hashToken(req.headers.authorization);
            next();
          }
        : guard === 'ours'
          ? kubeAuth({ verifier: new ServiceAccountVerifier({ mode: 'local', local }), policy: POLICY })
          : undefined;
  if (middleware) app.get('/data', middleware, handler);
  else app.get('/data', handler);
  return app;
}

/** A request as node's HTTP server parses it (headers, raw headers), and its response, with no socket. */
function requestListenerPath(
  id: string,
  token: string,
  listener: (req: IncomingMessage, res: ServerResponse) => void,
): Path {
  const rawHeaders = ['Host', '127.0.0.1:8081', 'Connection', 'keep-alive', 'Authorization', `Bearer ${token}`];
  return {
    id,
    run: () => {
      const req = new IncomingMessage(undefined as never);
      req.method = 'GET';
      req.url = '/data';
      req.httpVersion = '1.1';
      req.headers = { host: '127.0.0.1:8081', connection: 'keep-alive', authorization: `Bearer ${token}` };
      req.rawHeaders = [...rawHeaders];
      req.complete = true;
      req.push(null);
      const res = new ServerResponse(req);
      listener(req, res);
      if (!res.writableEnded) throw new Error(`${id}: the request did not end synchronously`);
      ok(res.statusCode, id);
    },
  };
}

export function expressPath(id: string, guard: Guard, token: string, local: LocalVerifier): Path {
  const app = expressApp(guard, local);
  return requestListenerPath(id, token, (req, res) => {
    app(req, res);
  });
}

export async function fastifyPath(id: string, guard: Guard, token: string, local: LocalVerifier): Promise<Path> {
  const app = Fastify();
  if (guard === 'ours')
    await app.register(fastifyKubeAuth, {
      verifier: new ServiceAccountVerifier({ mode: 'local', local }),
      policy: POLICY,
    });
  if (guard === 'hash')
    app.addHook('onRequest', (request, _reply, done) => {
      hashToken(request.headers.authorization);
      done();
    });
  app.get('/data', (_request, reply) => {
    void reply.type('text/plain').send(BODY);
  });
  await app.ready();
  return requestListenerPath(id, token, (req, res) => app.routing(req, res));
}

/** The gRPC control: an interceptor of the same shape as ours that only hashes the token and passes the metadata on. */
const hashInterceptor: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, pass) {
          const value = metadata.get('authorization')[0];
          hashToken(typeof value === 'string' ? value : undefined);
          pass(metadata);
        },
      });
    },
  });

type Listener = {
  onReceiveMetadata(m: Metadata): void;
  onReceiveMessage(m: unknown): void;
  onReceiveHalfClose(): void;
};

export function grpcPath(id: string, guard: Guard, token: string, local: LocalVerifier): Path {
  const interceptor =
    guard === 'ours'
      ? kubeAuthInterceptor({ verifier: new ServiceAccountVerifier({ mode: 'local', local }), policy: POLICY })
      : guard === 'hash'
        ? hashInterceptor
        : undefined;
  const method = { path: '/demo.Echo/WhoAmI' } as ServerMethodDefinition<unknown, unknown>;
  let served = 0;
  // The transport's side of the call: what reaches it is what grpc-js would write to the stream.
  const transport = () => {
    const base = {
      listener: undefined as Listener | undefined,
      start(listener: Listener) {
        base.listener = listener;
      },
      sendMetadata() {},
      sendMessage(_message: unknown, callback: () => void) {
        callback();
      },
      sendStatus(status: { code: number }) {
        if (status.code !== 0) throw new Error(`${id}: gRPC status ${status.code}`);
        served++;
      },
      startRead() {},
    };
    return base;
  };
  return {
    id,
    run: () => {
      const base = transport();
      const call = interceptor
        ? (interceptor(method, base as unknown as ServerInterceptingCallInterface) as unknown as typeof base)
        : base;
      // The handler's side: answer once the request is complete.
      call.start({
        onReceiveMetadata() {},
        onReceiveMessage() {},
        onReceiveHalfClose() {
          call.sendMetadata();
          call.sendMessage({}, () => {});
          call.sendStatus({ code: 0 });
        },
      });
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      const before = served;
      base.listener?.onReceiveMetadata(metadata);
      base.listener?.onReceiveMessage({});
      base.listener?.onReceiveHalfClose();
      if (served !== before + 1) throw new Error(`${id}: the call did not complete synchronously`);
    },
  };
}
