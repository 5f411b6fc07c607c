/**
 * `pnpm bench:hot`: the hot path alone — a repeat caller through express, fastify and gRPC against the same
 * unprotected route, with an A/A control per transport (the unprotected route measured again as a second server), in
 * short interleaved rounds on pinned cores. Needs no control plane: an RS256 token signed here, its key served by a
 * loopback key server (the same verifier path as against the API server: discovery aside, a repeat caller never
 * reaches the key set). Prints a table; `pnpm bench` has the same configurations with real tokens.
 */
import { loadavg } from 'node:os';
import { createKubeFetch, LocalVerifier, Policy, ServiceAccountVerifier } from '@kube-service-auth/verifier';
import { adapterCost } from './adapter-cost.js';
import { adapterCostTable } from './report.js';
import { AUDIENCE, type AuthConfig } from './protocol.js';
import { fmt, httpSection, type HttpConfig, type HttpRow, type Spread } from './sections.js';
import { loadSettings } from './settings.js';
import { signedTokenFixture } from './tokens.js';

const settings = { ...loadSettings(''), docsDir: undefined };
const t0 = performance.now();
const log = (message: string) =>
  process.stderr.write(`[hot ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
const only = process.env.BENCH_HOT_ONLY?.split(',').map((s) => s.trim());

function range(s: Spread | undefined, digits: number, signed = false): string {
  if (!s) return '—';
  const f = (v: number) => (signed && v >= 0 ? '+' : '') + fmt(v, digits);
  return `${f(s.median)} (${f(s.low)} … ${f(s.high)})`;
}

export function hotTable(rows: readonly HttpRow[]): string {
  const lines = [
    '| configuration | req/s (median round) | vs baseline, per round: median (low … high) | server CPU µs/req | CPU added µs/req: median (low … high) | middleware in situ µs/call: median (mean) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const rps = [...r.passes].sort((a, b) => a - b)[Math.floor(r.passes.length / 2)] ?? NaN;
    lines.push(
      `| ${r.label} | ${fmt(rps, 0)} | ${range(r.ratio, 3)} | ${fmt(r.cpuMicrosPerRequest, 1)} | ${range(r.cpuAdded, 1, true)} | ${r.middlewareMicros === undefined ? '—' : `${fmt(r.middlewareMedianMicros ?? NaN, 2)} (${fmt(r.middlewareMicros, 2)})`} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const issuer = 'https://hot-bench.kube-service-auth.invalid';
  const fixture = await signedTokenFixture(issuer);
  const { keys } = fixture;
  const tokens = [fixture.token];
  const local: AuthConfig = fixture.local();
  const configs: HttpConfig[] = [
    { id: 'none', label: 'express, no auth', kind: 'baseline', auth: { kind: 'none' }, tokens },
    {
      id: 'none-aa',
      label: 'express, no auth again (A/A)',
      kind: 'control',
      auth: { kind: 'none' },
      tokens,
      baseline: 'none',
    },
    {
      id: 'sync-mw',
      label: 'express, empty sync middleware',
      kind: 'control',
      auth: { kind: 'none', emptyMiddleware: 'sync' },
      tokens,
    },
    {
      id: 'async-mw',
      label: 'express, empty async middleware',
      kind: 'control',
      auth: { kind: 'none', emptyMiddleware: 'async' },
      tokens,
    },
    {
      id: 'hash-mw',
      label: 'express, middleware hashing the token',
      kind: 'control',
      auth: { kind: 'none', emptyMiddleware: 'hash' },
      tokens,
    },
    { id: 'local', label: 'express, kubeAuth, repeat caller', kind: 'ours', auth: local, tokens },
    {
      id: 'local-timed',
      label: 'express, kubeAuth, repeat caller, timed',
      kind: 'ours',
      auth: { ...local, timeMiddleware: true },
      tokens,
    },
    {
      id: 'oauth2',
      label: 'express-oauth2-jwt-bearer',
      kind: 'peer',
      auth: { kind: 'oauth2', issuer, audience: AUDIENCE, jwksUri: keys.url },
      tokens,
    },
    {
      id: 'fastify-none',
      label: 'fastify, no auth',
      kind: 'baseline',
      auth: { kind: 'none' },
      tokens,
      transport: 'fastify',
    },
    {
      id: 'fastify-aa',
      label: 'fastify, no auth again (A/A)',
      kind: 'control',
      auth: { kind: 'none' },
      tokens,
      transport: 'fastify',
      baseline: 'fastify-none',
    },
    {
      id: 'fastify-hook',
      label: 'fastify, empty onRequest hook',
      kind: 'control',
      auth: { kind: 'none', emptyMiddleware: 'sync' },
      tokens,
      transport: 'fastify',
    },
    {
      id: 'fastify-hash',
      label: 'fastify, hook hashing the token',
      kind: 'control',
      auth: { kind: 'none', emptyMiddleware: 'hash' },
      tokens,
      transport: 'fastify',
    },
    {
      id: 'fastify-local',
      label: 'fastify plugin, repeat caller',
      kind: 'ours',
      auth: local,
      tokens,
      transport: 'fastify',
    },
    {
      id: 'fastify-local-timed',
      label: 'fastify plugin, repeat caller, timed',
      kind: 'ours',
      auth: { ...local, timeMiddleware: true },
      tokens,
      transport: 'fastify',
    },
    {
      id: 'grpc-none',
      label: 'gRPC, no interceptor',
      kind: 'baseline',
      auth: { kind: 'none' },
      tokens,
      transport: 'grpc',
    },
    {
      id: 'grpc-aa',
      label: 'gRPC, no interceptor again (A/A)',
      kind: 'control',
      auth: { kind: 'none' },
      tokens,
      transport: 'grpc',
      baseline: 'grpc-none',
    },
    {
      id: 'grpc-interceptor',
      label: 'gRPC, pass-through interceptor',
      kind: 'control',
      auth: { kind: 'none', emptyMiddleware: 'sync' },
      tokens,
      transport: 'grpc',
    },
    {
      id: 'grpc-hash',
      label: 'gRPC, interceptor hashing the token',
      kind: 'control',
      auth: { kind: 'none', emptyMiddleware: 'hash' },
      tokens,
      transport: 'grpc',
    },
    {
      id: 'grpc-local',
      label: 'gRPC interceptor, repeat caller',
      kind: 'ours',
      auth: local,
      tokens,
      transport: 'grpc',
    },
  ].filter((c) => !only || only.includes(c.id) || only.includes(c.transport ?? 'express')) as HttpConfig[];
  try {
    const loadStart = loadavg()[0] ?? 0;
    if (process.env.BENCH_HOT_IN_PROCESS !== '0') {
      const local = new LocalVerifier({
        issuers: [{ issuer, jwksUri: keys.url }],
        audience: AUDIENCE,
        fetch: createKubeFetch({}),
        requirePodBinding: true,
        cacheTtlSeconds: 600,
      });
      await local.warm();
      const verifier = new ServiceAccountVerifier({ mode: 'local', local });
      const rows = adapterCost({
        verifier,
        policy: new Policy({ allow: ['system:serviceaccount:api:*'] }),
        token: tokens[0] as string,
      });
      process.stdout.write(
        `_adapters alone, in process, load average ${loadStart.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}_\n\n${adapterCostTable(rows)}\n\n`,
      );
      if (only?.includes('alone')) return;
    }
    const { rows, method } = await httpSection(configs, settings, log);
    process.stdout.write(
      `_load average (1 min) ${loadStart.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}; ${method.rounds} rounds of ${fmt(method.secondsPerRound, 2)} s per ` +
        `configuration, ${method.mode}, ${settings.connections} connections, warm-up ${method.warmupSeconds} s; ` +
        `${method.pinning ? `servers on CPU ${method.pinning.server}, load generator on CPU ${method.pinning.load}` : 'not pinned'}_\n\n${hotTable(rows)}\n`,
    );
  } finally {
    await keys.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `hot bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
