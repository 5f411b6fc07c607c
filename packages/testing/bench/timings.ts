import { performance } from 'node:perf_hooks';
import { ControlPlane } from '@kube-service-auth/testing';

// `pnpm --filter @kube-service-auth/testing timings`: what the kit costs a test suite. Start-up is measured warm (the
// binaries are cached; the first start of a machine also pays for the page cache), namespaces and tokens against one
// running control plane, sequentially, as a test would create them.

const STARTS = Number(process.env.STARTS ?? 3);
const COUNT = Number(process.env.COUNT ?? 50);

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const fmt = (ms: number): string => `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, performance.now() - start];
}

// One start to warm the page cache and locate the binaries; it is not counted.
await (await ControlPlane.start()).stop();
const startups: number[] = [];
const stops: number[] = [];
for (let i = 0; i < STARTS; i++) {
  const [plane, startMs] = await timed(() => ControlPlane.start());
  startups.push(startMs);
  stops.push((await timed(() => plane.stop()))[1]);
}

const plane = await ControlPlane.start();
try {
  const cluster = plane.cluster();
  const namespaces: number[] = [];
  for (let i = 0; i < COUNT; i++) namespaces.push((await timed(() => cluster.createNamespace()))[1]);
  const ns = await cluster.createNamespace();
  const serviceAccounts: number[] = [];
  for (let i = 0; i < COUNT; i++) serviceAccounts.push((await timed(() => ns.createServiceAccount(`sa-${i}`)))[1]);
  const [sa] = await ns.createServiceAccounts('caller');
  const pods: number[] = [];
  for (let i = 0; i < COUNT; i++) pods.push((await timed(() => ns.createPod(`pod-${i}`, { serviceAccount: sa })))[1]);
  const pod = await ns.createPod('caller-0', { serviceAccount: sa });
  const unbound: number[] = [];
  const bound: number[] = [];
  for (let i = 0; i < COUNT; i++) {
    unbound.push((await timed(() => sa.token({ audiences: ['store'] })))[1]);
    bound.push((await timed(() => pod.token({ audiences: ['store'] })))[1]);
  }
  const volumes: number[] = [];
  for (let i = 0; i < 10; i++) {
    const [volume, ms] = await timed(() => pod.projectToken({ audiences: ['store'] }));
    volumes.push(ms);
    volume.stop();
  }

  const rows: [string, string][] = [
    [`control plane start-up, warm (median of ${STARTS})`, fmt(median(startups))],
    [`control plane stop (median of ${STARTS})`, fmt(median(stops))],
    [`namespace (median of ${COUNT})`, fmt(median(namespaces))],
    [`ServiceAccount (median of ${COUNT})`, fmt(median(serviceAccounts))],
    [`pod (median of ${COUNT})`, fmt(median(pods))],
    [`unbound token (median of ${COUNT})`, fmt(median(unbound))],
    [`pod-bound token (median of ${COUNT})`, fmt(median(bound))],
    ['projected-token volume, written (median of 10)', fmt(median(volumes))],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value.padStart(8)}`);
} finally {
  await plane.stop();
}
