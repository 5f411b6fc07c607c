/**
 * `pnpm bench`: throughput, latency, raw verification cost, API-server load and memory of the verifier, side by side
 * with an unprotected route and express-oauth2-jwt-bearer, against a real kube-apiserver + etcd on loopback. Prints
 * the figures and writes docs/benchmarks.md and docs/benchmarks.svg. A script, not a test: it fails no target.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalVerifier, Policy, ServiceAccountVerifier } from '@kube-service-auth/verifier';
import { ControlPlane } from '@kube-service-auth/testing';
import { setUpCluster } from './fixture.js';
import { forgedFloodSection } from './forged.js';
import { AUDIENCE, type AuthConfig } from './protocol.js';
import { adapterCost } from './adapter-cost.js';
import { rawVerification } from './raw.js';
import { chart, markdown, targets, type BenchResults } from './report.js';
import { apiLoadSection, floodSection, fmt, httpSection, memorySection, type HttpConfig } from './sections.js';
import { rejectionFloodSection, rotationSection } from './resilience.js';
import { revocationSection } from './revocation.js';
import { loadSettings } from './settings.js';
import { KeyServer } from './tokens.js';

const settings = loadSettings(fileURLToPath(new URL('../../../docs/', import.meta.url)));
const t0 = performance.now();
const log = (message: string) =>
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line?.split(':')[1]?.trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A local-mode verifier for in-process measurements, as the bench server builds it (cache 10 s). */
async function warmLocal(fixture: Awaited<ReturnType<typeof setUpCluster>>): Promise<LocalVerifier> {
  const local = new LocalVerifier({
    issuers: [fixture.issuer],
    audience: AUDIENCE,
    fetch: fixture.fetch,
    requirePodBinding: true,
    cacheTtlSeconds: 10,
  });
  await local.warm();
  return local;
}

async function main(): Promise<void> {
  // Every loop below is bounded; this is the last resort. Exiting runs the handlers that kill the control plane and
  // the server children.
  setTimeout(() => {
    log(`aborting: the run exceeded BENCH_MAX_SECONDS=${settings.maxSeconds}`);
    process.exit(2);
  }, settings.maxSeconds * 1000).unref();

  const loadStart = loadavg()[0] ?? 0;
  log('starting etcd + kube-apiserver on loopback');
  const cp = await ControlPlane.start();
  let oauth2Keys: KeyServer | undefined;
  try {
    log(`API server ${cp.url}; creating namespaces, ServiceAccounts, caller pods and their TokenRequest tokens`);
    const fixture = await setUpCluster(cp, settings.only === 'raw' ? 1 : 100);
    log(
      `${fixture.callerTokens.length} tokens minted (${fixture.kubernetesVersion}); JWKS has ${fixture.jwks.keys.length} key(s)`,
    );

    log('2. raw verification per core');
    const raw = await rawVerification({
      token: fixture.callerTokens[0] as string,
      jwk: fixture.signingJwk,
      issuer: fixture.issuer,
      fetch: fixture.fetch,
      iterations: settings.rawIterations,
      rounds: settings.rawRounds,
      maxRoundMs: 4000,
      pairs: settings.rawPairs,
      chunkMs: settings.rawChunkMs,
    });
    for (const r of raw)
      log(
        `  ${r.name.padEnd(34)} ${fmt(r.opsPerSecond, 0).padStart(9)} ops/s ${fmt(r.microsPerOp, 1).padStart(7)} µs/op  ${fmt(r.ofFloor * 100, 1)}% of floor` +
          (r.paired
            ? `; paired: ${fmt(r.paired.median * 100, 1)}% (quartiles ${fmt(r.paired.q1 * 100, 1)} … ${fmt(r.paired.q3 * 100, 1)}, ${r.paired.pairs} pairs)`
            : ''),
      );
    if (settings.only === 'raw') {
      log(
        `BENCH_ONLY=raw: the other sections are skipped, no docs written (load average ${(loadavg()[0] ?? 0).toFixed(2)})`,
      );
      return;
    }

    log('1a. per-request CPU of each adapter alone (in process)');
    const alone = adapterCost({
      verifier: new ServiceAccountVerifier({ mode: 'local', local: await warmLocal(fixture) }),
      policy: new Policy({ allow: ['system:serviceaccount:api:*'] }),
      token: fixture.callerTokens[0] as string,
    });
    for (const r of alone)
      log(
        `  ${r.label.padEnd(44)} ${fmt(r.nanos, 0).padStart(7)} ns/request${r.addedNanos === undefined ? '' : ` (added ${fmt(r.addedNanos, 0)} ns)`}` +
          (r.paired
            ? `; paired: ${fmt(r.paired.median, 0)} ns (quartiles ${fmt(r.paired.q1, 0)} … ${fmt(r.paired.q3, 0)})`
            : ''),
      );

    log('1. HTTP throughput and latency');
    // express-oauth2-jwt-bearer cannot authenticate to the API server's JWKS endpoint: it gets a loopback copy.
    oauth2Keys = await KeyServer.start(fixture.jwks);
    const one = fixture.callerTokens.slice(0, 1);
    const all = fixture.callerTokens;
    const local = (cacheTtlSeconds: number): AuthConfig => ({
      kind: 'local',
      issuer: fixture.issuer,
      access: fixture.access,
      cacheTtlSeconds,
      cacheMaxEntries: 10_000,
      jwksCooldownSeconds: 30,
      warm: true,
    });
    const tokenReview: AuthConfig = {
      kind: 'tokenreview',
      access: fixture.access,
      cacheTtlSeconds: 10,
      cacheMaxEntries: 10_000,
    };
    const oauth2: AuthConfig = { kind: 'oauth2', issuer: fixture.issuer, audience: AUDIENCE, jwksUri: oauth2Keys.url };
    const configs: HttpConfig[] = [
      { id: 'none', label: 'no auth', kind: 'baseline', auth: { kind: 'none' }, tokens: one },
      {
        id: 'none-aa',
        label: 'no auth again (A/A)',
        kind: 'control',
        auth: { kind: 'none' },
        tokens: one,
        baseline: 'none',
      },
      {
        id: 'control-sync',
        label: 'no auth, empty sync middleware',
        kind: 'control',
        auth: { kind: 'none', emptyMiddleware: 'sync' },
        tokens: one,
      },
      {
        id: 'control',
        label: 'no auth, empty async middleware',
        kind: 'control',
        auth: { kind: 'none', emptyMiddleware: 'async' },
        tokens: one,
      },
      { id: 'local', label: 'kubeAuth, local mode', kind: 'ours', auth: local(10), tokens: one },
      {
        id: 'local-timed',
        label: 'kubeAuth, local mode, timed',
        kind: 'ours',
        auth: { ...local(10), timeMiddleware: true } as AuthConfig,
        tokens: one,
      },
      { id: 'oauth2', label: 'express-oauth2-jwt-bearer', kind: 'peer', auth: oauth2, tokens: one },
      { id: 'local-nocache', label: 'kubeAuth, local mode, cache off', kind: 'ours', auth: local(0), tokens: one },
      {
        id: 'tokenreview',
        label: 'kubeAuth, TokenReview mode, warm cache',
        kind: 'ours',
        auth: tokenReview,
        tokens: one,
      },
      { id: 'local-100', label: 'kubeAuth, local mode, 100 callers', kind: 'ours', auth: local(10), tokens: all },
      { id: 'oauth2-100', label: 'express-oauth2-jwt-bearer, 100 callers', kind: 'peer', auth: oauth2, tokens: all },
      {
        id: 'tokenreview-100',
        label: 'kubeAuth, TokenReview mode, 100 callers',
        kind: 'ours',
        auth: tokenReview,
        tokens: all,
      },
    ];
    const { rows: http, method: httpMethod } = await httpSection(configs, settings, log);
    const oauth2JwksFetches = oauth2Keys.requests;

    log('1b. fastify plugin and gRPC interceptor');
    const { rows: adapters } = await httpSection(
      [
        {
          id: 'fastify-none',
          label: 'fastify, no auth',
          kind: 'baseline',
          auth: { kind: 'none' },
          tokens: one,
          transport: 'fastify',
        },
        {
          id: 'fastify-aa',
          label: 'fastify, no auth again (A/A)',
          kind: 'control',
          auth: { kind: 'none' },
          tokens: one,
          transport: 'fastify',
          baseline: 'fastify-none',
        },
        {
          id: 'fastify-hook',
          label: 'fastify, no auth, empty onRequest hook',
          kind: 'control',
          auth: { kind: 'none', emptyMiddleware: 'sync' },
          tokens: one,
          transport: 'fastify',
        },
        {
          id: 'fastify-hash',
          label: 'fastify, no auth, hook hashing the token',
          kind: 'control',
          auth: { kind: 'none', emptyMiddleware: 'hash' },
          tokens: one,
          transport: 'fastify',
        },
        {
          id: 'fastify-local',
          label: 'fastify plugin, local mode',
          kind: 'ours',
          auth: local(10),
          tokens: one,
          transport: 'fastify',
        },
        {
          id: 'fastify-local-timed',
          label: 'fastify plugin, local mode, timed',
          kind: 'ours',
          auth: { ...local(10), timeMiddleware: true } as AuthConfig,
          tokens: one,
          transport: 'fastify',
        },
        {
          id: 'grpc-none',
          label: 'gRPC unary, no interceptor',
          kind: 'baseline',
          auth: { kind: 'none' },
          tokens: one,
          transport: 'grpc',
        },
        {
          id: 'grpc-aa',
          label: 'gRPC unary, no interceptor again (A/A)',
          kind: 'control',
          auth: { kind: 'none' },
          tokens: one,
          transport: 'grpc',
          baseline: 'grpc-none',
        },
        {
          id: 'grpc-interceptor',
          label: 'gRPC unary, pass-through interceptor',
          kind: 'control',
          auth: { kind: 'none', emptyMiddleware: 'sync' },
          tokens: one,
          transport: 'grpc',
        },
        {
          id: 'grpc-hash',
          label: 'gRPC unary, interceptor hashing the token',
          kind: 'control',
          auth: { kind: 'none', emptyMiddleware: 'hash' },
          tokens: one,
          transport: 'grpc',
        },
        {
          id: 'grpc-local',
          label: 'gRPC unary, kubeAuthInterceptor, local mode',
          kind: 'ours',
          auth: local(10),
          tokens: one,
          transport: 'grpc',
        },
      ],
      settings,
      log,
    );

    log(`3. API-server load at ${settings.loadRate} req/s`);
    const apiLoad = await apiLoadSection(fixture, settings, log);
    log('3b. random-kid flood');
    const flood = await floodSection(fixture, settings, log);
    log('3c. forged-token flood in TokenReview mode');
    const forged = await forgedFloodSection(fixture, log);
    log('3d. valid callers under a flood of rejected tokens (TokenReview mode)');
    const rejectionFlood = await rejectionFloodSection(fixture, log);

    log(`4. memory: ${settings.memoryTokens} distinct tokens through the caches`);
    const memory = await memorySection(fixture, settings, log);

    log('5. revocation: deletion → first refusal, API-server requests, memory of the watch');
    const revocation = await revocationSection(cp, fixture, log);

    // Restarts the API server with a new key: last.
    log('6. key rotation under a random-kid flood');
    const rotation = await rotationSection(cp, fixture, log);

    const results: BenchResults = {
      machine: {
        cores: availableParallelism(),
        cpu: cpuModel(),
        node: process.versions.node,
        kubernetes: fixture.kubernetesVersion,
        date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        loadAverage: { start: loadStart, end: loadavg()[0] ?? 0 },
        durationSeconds: (performance.now() - t0) / 1000,
      },
      settings,
      httpMethod,
      http,
      alone,
      adapters,
      oauth2JwksFetches,
      raw,
      apiLoad,
      flood,
      forged,
      rejectionFlood,
      rotation,
      memory,
      revocation,
    };

    const svgName = 'benchmarks.svg';
    const md = markdown(results, settings.docsDir ? svgName : undefined);
    if (settings.docsDir) {
      await mkdir(settings.docsDir, { recursive: true });
      await writeFile(join(settings.docsDir, 'benchmarks.md'), md);
      await writeFile(join(settings.docsDir, svgName), chart(results));
      log(`wrote ${join(settings.docsDir, 'benchmarks.md')} and ${svgName}`);
    }
    process.stdout.write(`${md}\n`);
    log('targets:');
    for (const t of targets(results)) log(`  ${t.met ? 'met    ' : 'NOT MET'}  ${t.target}: ${t.figure}`);
  } finally {
    await oauth2Keys?.close();
    await cp.stop();
  }
}

main().then(
  () => log('done'),
  (error: unknown) => {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  },
);
