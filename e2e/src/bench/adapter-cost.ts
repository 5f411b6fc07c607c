/**
 * The CPU an adapter adds to one request, alone: tight loops in this process over exactly the code a request runs
 * through the framework's dispatch and our adapter, with no socket, no HTTP parsing and no second process. Over the
 * wire (section 1) a request costs hundreds of µs of socket work on a shared VM, and the A/A control shows that a
 * difference of a few µs drowns there; here fastify and gRPC resolve to tenths of a µs, express (whose own garbage
 * makes chunks vary) to a few µs. Rounds are interleaved, timed by the process's CPU time (not wall time: waiting for
 * a core is not the path's cost), and the cheapest round of each path is kept (other work on the machine only ever
 * adds time to a round, through cache misses). Then each path with a baseline runs pairs of chunks against it, back
 * to back, and the median of the per-pair differences is what it adds (the cheapest rounds of two paths, taken apart,
 * differ by more than a few µs on a busy VM).
 *
 * - express: `app.handle(req, res)` of an express 5 app whose route is `GET /data` (the handler only counts), behind
 *   nothing, an empty sync middleware, a middleware that only hashes the token (the cache key's cost), or kubeAuth;
 *   `req` carries the same raw headers as a real request. The difference to "no auth" is express's extra layer plus the middleware.
 * - fastify: the plugin's `onRequest` hook, called as fastify calls it, on a request of a route without options.
 * - gRPC: a whole unary call through the server interceptor as grpc-js drives it (metadata, message, half-close,
 *   response metadata, message, status), against the same call without it; controls: an interceptor of the same
 *   shape that only passes the metadata on, and one that also hashes the token.
 */
import { Metadata, type ServerInterceptingCallInterface, type ServerMethodDefinition } from '@grpc/grpc-js';
import express, { type RequestHandler } from 'express';
import type { FastifyInstance } from 'fastify';
import type { Policy, Verifier } from '@kube-service-auth/verifier';
import { kubeAuth } from '@kube-service-auth/verifier/express';
import { fastifyKubeAuth } from '@kube-service-auth/verifier/fastify';
import { kubeAuthInterceptor } from '@kube-service-auth/verifier/grpc';
import { hashHeader, passThroughInterceptor } from './controls.js';
import { quartiles } from './sections.js';

export interface AdapterCost {
  id: string;
  label: string;
  /** Cheapest round, ns per request. */
  nanos: number;
  /** Added over the framework's unprotected path (cheapest round minus cheapest round), ns. */
  addedNanos?: number;
  rounds: number[];
  /**
   * Added over the unprotected path, pair by pair: chunks of each, back to back in alternating order, and the
   * difference of their CPU time per request. What a moment of the machine does hits both chunks of a pair alike, so
   * this resolves what the cheapest rounds (taken minutes apart) cannot.
   */
  paired?: PairedDifference;
}

/** The per-pair differences (path minus its baseline), ns per request. */
export interface PairedDifference {
  median: number;
  q1: number;
  q3: number;
  pairs: number;
  callsPerChunk: number;
}

type Path = { id: string; label: string; baseline?: string; once: () => void };

export function adapterCost(options: {
  verifier: Verifier;
  policy: Policy;
  token: string;
  rounds?: number;
  iterations?: number;
  /** Pairs of chunks per path with a baseline, and the CPU time of one chunk in ms. */
  pairs?: number;
  chunkMs?: number;
}): AdapterCost[] {
  const { verifier, policy, token } = options;
  const rawHeaders = ['Host', '127.0.0.1:8081', 'Connection', 'keep-alive', 'Authorization', `Bearer ${token}`];
  let served = 0;

  const expressPath = (id: string, label: string, middleware: RequestHandler | undefined): Path => {
    const app = express();
    const handler: RequestHandler = () => {
      served++;
    };
    if (middleware) app.get('/data', middleware, handler);
    else app.get('/data', handler);
    const handle = (
      app as unknown as { handle: (req: unknown, res: unknown, done: (err?: unknown) => void) => void }
    ).handle.bind(app);
    const fail = (err?: unknown) => {
      throw new Error(`${label}: the request did not reach the route (${String(err)})`);
    };
    return {
      id,
      label,
      baseline: id === 'express-none' ? undefined : 'express-none',
      once: () => {
        // A fresh request each time, as from the HTTP parser: express sets its prototype and fields on it.
        const req = {
          method: 'GET',
          url: '/data',
          headers: { host: '127.0.0.1:8081', authorization: rawHeaders[5] },
          rawHeaders: [...rawHeaders],
        };
        const res = { locals: undefined, setHeader() {}, getHeader() {} };
        handle(req, res, fail);
      },
    };
  };

  // The fastify hook, captured from the plugin as fastify registers it.
  let hook: ((request: unknown, reply: unknown, done: (err?: Error) => void) => void) | undefined;
  const fakeFastify = {
    decorateRequest() {},
    addHook(name: string, fn: typeof hook) {
      if (name === 'onRequest') hook = fn;
    },
  } as unknown as FastifyInstance;
  (fastifyKubeAuth as unknown as (f: FastifyInstance, o: unknown, done: () => void) => void)(
    fakeFastify,
    { verifier, policy },
    () => {},
  );
  if (!hook) throw new Error('the fastify plugin registered no onRequest hook');
  const onRequest = hook;
  const routeOptions = { config: {} };
  const fastifyDone = (err?: Error) => {
    if (err) throw err;
    served++;
  };

  // A unary call as grpc-js drives an interceptor: the base call below records what reaches it.
  const interceptors = {
    ours: kubeAuthInterceptor({ verifier, policy }),
    pass: passThroughInterceptor(false),
    hash: passThroughInterceptor(true),
  };
  type Interceptor = keyof typeof interceptors;
  const method = { path: '/demo.Echo/WhoAmI' } as ServerMethodDefinition<unknown, unknown>;
  const grpcCall = (intercepted: Interceptor | undefined) => {
    type Listener = {
      onReceiveMetadata(m: Metadata): void;
      onReceiveMessage(m: unknown): void;
      onReceiveHalfClose(): void;
    };
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
        if (status.code !== 0) throw new Error(`gRPC call refused: ${status.code}`);
        served++;
      },
      startRead() {},
    };
    const call = intercepted
      ? (interceptors[intercepted](
          method,
          base as unknown as ServerInterceptingCallInterface,
        ) as unknown as typeof base)
      : base;
    call.start({
      onReceiveMetadata() {},
      onReceiveMessage() {},
      onReceiveHalfClose() {
        call.sendMetadata();
        call.sendMessage({}, () => {});
        call.sendStatus({ code: 0 });
      },
    });
    return base;
  };
  const grpcPath = (id: string, label: string, intercepted: Interceptor | undefined): Path => ({
    id,
    label,
    baseline: intercepted ? 'grpc-none' : undefined,
    once: () => {
      const metadata = new Metadata();
      metadata.set('authorization', rawHeaders[5] as string);
      const base = grpcCall(intercepted);
      const listener = base.listener;
      if (!listener) throw new Error('the interceptor did not start the call');
      listener.onReceiveMetadata(metadata);
      listener.onReceiveMessage({});
      listener.onReceiveHalfClose();
    },
  });

  const paths: Path[] = [
    expressPath('express-none', 'express, no auth', undefined),
    expressPath('express-aa', 'express, no auth again (A/A)', undefined),
    expressPath('express-sync', 'express, empty sync middleware', (_req, _res, next) => next()),
    // The result cache's key alone: what any adapter that keys a cache by the token's SHA-256 pays per request.
    expressPath('express-hash', 'express, middleware that only hashes the token (control)', (req, _res, next) => {
      hashHeader(req.headers.authorization);
      next();
    }),
    expressPath('express-kubeauth', 'express, kubeAuth, repeat caller', kubeAuth({ verifier, policy })),
    { id: 'fastify-none', label: 'fastify, no hook', once: () => fastifyDone() },
    {
      id: 'fastify-hook',
      label: 'fastify plugin hook, repeat caller',
      baseline: 'fastify-none',
      once: () =>
        onRequest({ routeOptions, raw: { rawHeaders: [...rawHeaders] }, method: 'GET', url: '/data' }, {}, fastifyDone),
    },
    grpcPath('grpc-none', 'gRPC, no interceptor', undefined),
    grpcPath('grpc-pass', 'gRPC, pass-through interceptor (control)', 'pass'),
    grpcPath('grpc-hash', 'gRPC, interceptor that only hashes the token (control)', 'hash'),
    grpcPath('grpc-interceptor', 'gRPC, kubeAuthInterceptor, repeat caller', 'ours'),
  ];
  const iterations = options.iterations ?? 20_000;
  const roundsN = options.rounds ?? 15;
  const rounds = new Map<string, number[]>(paths.map((p) => [p.id, []]));
  const time = (path: Path, calls = iterations): number => {
    const before = served;
    // CPU time, not wall time: time spent waiting for a core while other processes run is not the path's cost.
    const t = process.cpuUsage();
    for (let i = 0; i < calls; i++) path.once();
    const used = process.cpuUsage(t);
    const ns = ((used.user + used.system) * 1000) / calls;
    if (served - before !== calls)
      throw new Error(`${path.label}: ${served - before} of ${calls} requests reached the route`);
    return ns;
  };
  for (const path of paths) time(path);
  for (let r = 0; r < roundsN; r++)
    for (const path of r % 2 ? [...paths].reverse() : paths) (rounds.get(path.id) as number[]).push(time(path));
  const results = paths.map((p): AdapterCost => {
    const values = rounds.get(p.id) as number[];
    return { id: p.id, label: p.label, nanos: Math.min(...values), rounds: values };
  });
  const pairs = options.pairs ?? 41;
  const chunkNs = (options.chunkMs ?? 60) * 1e6;
  for (const r of results) {
    const path = paths.find((p) => p.id === r.id) as Path;
    const b = path.baseline && results.find((x) => x.id === path.baseline);
    if (!b) continue;
    r.addedNanos = r.nanos - b.nanos;
    const baseline = paths.find((p) => p.id === b.id) as Path;
    const calls = Math.max(200, Math.round(chunkNs / Math.max(r.nanos, 1000)));
    const differences: number[] = [];
    for (let i = 0; i < pairs; i++) {
      if (i % 2 === 0) {
        const base = time(baseline, calls);
        differences.push(time(path, calls) - base);
      } else {
        const own = time(path, calls);
        differences.push(own - time(baseline, calls));
      }
    }
    const { median, q1, q3 } = quartiles(differences);
    r.paired = { median, q1, q3, pairs, callsPerChunk: calls };
  }
  return results;
}
