/**
 * `pnpm bench`: three sections, each judged as ratios against controls measured beside it in the same run, with an
 * A/A row as the noise floor; writes the tables into docs/benchmarks.md (between its markers) and prints them.
 * `--quick`: a few rounds of everything, nothing written (a smoke test of the bench itself).
 */
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { expressPath, fastifyPath, grpcPath, type Guard } from './adapters.js';
import { cacheOffPaths } from './cache-off.js';
import { differences, pairedChunks, throughputRatios, type PairedRun, type Path } from './paired.js';
import { est, fmt, table, targetTable, writeGenerated, type Row, type Target } from './report.js';
import { estimate, ratioOfMedians } from './stats.js';
import { keyServer, localVerifier, signingKey, signToken, type Alg } from './tokens.js';
import { wire, WIRE_IDS } from './wire.js';

const quick = process.argv.includes('--quick');
const rounds = (n: number) => (quick ? Math.max(5, Math.round(n / 8)) : n);
const t0 = performance.now();
const load0 = loadavg()[0] ?? 0;
const log = (message: string) =>
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
const targets: Target[] = [];
const gcCounts = { chunks: 0, gcInChunks: 0 };
const counted = (run: PairedRun) => {
  gcCounts.chunks += run.chunks;
  gcCounts.gcInChunks += run.gcInChunks;
  return run;
};

const keys = { RS256: signingKey('RS256'), ES256: signingKey('ES256') };
const server = await keyServer([keys.RS256, keys.ES256]);
try {
  // 1. Adapters on a repeat caller, in process.
  const token = signToken(keys.RS256);
  const cached = await localVerifier(server.url, 600);
  const frameworks: [string, (id: string, guard: Guard) => Path | Promise<Path>][] = [
    ['express', (id, guard) => expressPath(id, guard, token, cached)],
    ['fastify', (id, guard) => fastifyPath(id, guard, token, cached)],
    ['gRPC', (id, guard) => grpcPath(id, guard, token, cached)],
  ];
  const adapterRows: Row[] = [];
  for (const [name, make] of frameworks) {
    log(`adapters: ${name}`);
    const paths = [await make('none', 'none'), await make('aa', 'none'), await make('hash', 'hash')];
    paths.push(await make('ours', 'ours'));
    const run = counted(await pairedChunks(paths, { rounds: rounds(81), chunkMs: 10, maxSeconds: 100 }));
    const added = (id: string) => differences(run, id, 'none');
    const inHash = (id: string) => ratioOfMedians(added(id), added('hash'));
    const row = (label: string, id: string): Row => ({
      label: `${name}, ${label}`,
      cells: [
        fmt(estimate(run.nanos.get(id) ?? []).median, 0),
        id === 'none' ? '—' : est(estimate(added(id)), 0, true),
        id === 'none' ? '—' : est(inHash(id)),
      ],
    });
    adapterRows.push(
      row('no auth', 'none'),
      row('no auth again (A/A)', 'aa'),
      row('hash-only control', 'hash'),
      row('ours, repeat caller', 'ours'),
    );
    targets.push({
      what: `${name}: ours adds ≤ 1.25× what hash-only adds`,
      estimate: inHash('ours'),
      bound: { max: 1.25 },
    });
  }

  // 2. Cache off: a full local verification per token, against the minimal JWT check and bare crypto.verify.
  const cacheOffRows: Row[] = [];
  for (const alg of ['RS256', 'ES256'] as Alg[]) {
    log(`cache off: ${alg}`);
    const tokens = Array.from({ length: 64 }, (_, i) => signToken(keys[alg], i));
    const paths = cacheOffPaths(keys[alg], tokens, await localVerifier(server.url, 0));
    const run = counted(await pairedChunks(paths, { rounds: rounds(61), chunkMs: 20, maxSeconds: 100 }));
    const vs = (id: string, baseline: string) => estimate(throughputRatios(run, `${alg}-${id}`, `${alg}-${baseline}`));
    const row = (label: string, id: string): Row => ({
      label: `${alg}, ${label}`,
      cells: [
        fmt(estimate(run.nanos.get(`${alg}-${id}`) ?? []).median / 1000, 1),
        id === 'minimal' ? '1' : est(vs(id, 'minimal'), 3),
        id === 'floor' ? '1' : est(vs(id, 'floor'), 3),
      ],
    });
    cacheOffRows.push(
      row('bare `crypto.verify`', 'floor'),
      row('minimal JWT check', 'minimal'),
      row('minimal JWT check again (A/A)', 'minimal-aa'),
      row('ours, `check()`', 'check'),
      row('ours, `verify()`', 'verify'),
    );
    for (const method of ['check', 'verify'])
      targets.push({
        what: `${alg}, cache off: ours (\`${method}()\`) ≥ 0.93 of the minimal check's throughput`,
        estimate: vs(method, 'minimal'),
        bound: { min: 0.93 },
      });
  }

  // 3. Over the wire.
  log('over the wire');
  const wireOptions = { rounds: quick ? 2 : 6, seconds: quick ? 1 : 3, connections: 10 };
  const w = await wire({ jwksUri: server.url, token, ...wireOptions });
  const labels = {
    none: 'express, no auth',
    'none-aa': 'express, no auth again (A/A)',
    ours: 'ours (kubeAuth), cache on',
    'ours-off': 'ours (kubeAuth), cache off',
    oauth2: 'express-oauth2-jwt-bearer',
  };
  const wireRows = WIRE_IDS.map((id): Row => {
    const rps = w.rps.get(id) ?? [];
    const cpu = w.cpu.get(id) ?? [];
    const base = { rps: w.rps.get('none') ?? [], cpu: w.cpu.get('none') ?? [] };
    const none = id === 'none';
    return {
      label: labels[id],
      cells: [
        fmt(estimate(rps).median, 0),
        none ? '1' : est(estimate(rps.map((v, i) => v / (base.rps[i] as number))), 3),
        fmt(estimate(cpu).median, 1),
        none ? '1' : est(estimate(cpu.map((v, i) => v / (base.cpu[i] as number))), 3),
      ],
    };
  });

  const seconds = (performance.now() - t0) / 1000;
  const generated = [
    `_Generated on ${new Date().toISOString().slice(0, 19)}Z in ${fmt(seconds, 0)} s: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ` +
      `Node.js ${process.version}, load average (1 min) ${fmt(load0)} → ${fmt(loadavg()[0] ?? 0)}. ` +
      `In-process sections: ${gcCounts.chunks} timed chunks, ${gcCounts.gcInChunks} with a collection inside._`,
    '## Targets',
    targetTable(targets),
    '## 1. Adapters on a repeat caller, in process',
    table(
      ['path', 'CPU ns per request', 'added ns vs no auth: median (~95%)', 'added, in hash-only additions'],
      adapterRows,
    ),
    '## 2. Cache off, in process',
    table(['path', 'CPU µs per token', 'throughput vs minimal check', 'throughput vs `crypto.verify`'], cacheOffRows),
    '## 3. Over the wire (express, autocannon, 127.0.0.1)',
    `_${wireOptions.rounds} rounds of ${wireOptions.seconds} s per configuration, ${wireOptions.connections} connections; ` +
      `${w.failures} responses other than 200 or socket errors. Ratios are per round against the no-auth route; ` +
      `interval: the order-statistic interval of the rounds (with ${wireOptions.rounds} rounds, their range)._`,
    table(['configuration', 'req/s', 'req/s vs no auth', 'server CPU µs/req', 'CPU/req vs no auth'], wireRows),
  ].join('\n\n');
  process.stdout.write(`${generated}\n`);
  if (w.failures > 0) throw new Error(`${w.failures} requests failed over the wire`);
  if (!quick) writeGenerated(fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url)), generated);
  log(quick ? 'done (--quick: nothing written)' : 'done: docs/benchmarks.md');
} finally {
  await server.close();
}
