/**
 * CPU profile of the server under load: the server child runs with `--cpu-prof`, autocannon drives it from this
 * process, and the profile is summarised as the frames with the most self time, in µs per request. Under load is the
 * point: an isolated loop misses what the event loop, HTTP parsing and GC do around the middleware.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runLoad } from './load.js';
import type { AuthConfig } from './protocol.js';
import { ServerProcess } from './server-process.js';

export interface ProfileFrame {
  /** `function (file:line)`, with the path relative to the repository. */
  frame: string;
  /** Self time in µs per request. */
  selfMicrosPerRequest: number;
  /** Share of all sampled time (idle excluded). */
  share: number;
}

export interface ProfileSummary {
  label: string;
  requests: number;
  rps: number;
  /** Sampled non-idle time per request, in µs (close to, and below, the process CPU time per request). */
  busyMicrosPerRequest: number;
  /** Time in the verifier package and what it calls (not the route it hands over to), per request. */
  verifierMicrosPerRequest: number;
  top: ProfileFrame[];
}

interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const REPO = new URL('../../../../', import.meta.url).pathname;

function describeFrame(callFrame: CpuProfile['nodes'][number]['callFrame']): string {
  const name = callFrame.functionName || '(anonymous)';
  if (!callFrame.url) return name;
  const path = callFrame.url.startsWith('file://') ? relative(REPO, new URL(callFrame.url).pathname) : callFrame.url;
  const short = path.replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '');
  return `${name} (${short}:${callFrame.lineNumber + 1})`;
}

/** Self time per frame and time under verifier frames, from a V8 `.cpuprofile`. */
export function summariseProfile(
  profile: CpuProfile,
  window: { from: number; to: number },
  label: string,
  requests: number,
  rps: number,
  topN = 15,
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // A sample is the verifier's when, walking from the sampled frame towards the root, a verifier frame comes before
  // any express/router frame: so what the middleware calls (hashing, JSON) counts, and the route it calls next() into
  // does not.
  const owner = new Map<number, boolean>();
  const isVerifier = (id: number): boolean => {
    const known = owner.get(id);
    if (known !== undefined) return known;
    const url = byId.get(id)?.callFrame.url ?? '';
    const up = parent.get(id);
    const result = url.includes('/packages/verifier/')
      ? true
      : /\/(express|router)\//.test(url)
        ? false
        : up !== undefined && isVerifier(up);
    owner.set(id, result);
    return result;
  };
  const self = new Map<string, number>();
  let busy = 0;
  let verifier = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    // Only the measured window: start-up (module loading, JIT of the first requests) is not per-request cost.
    if (at < window.from || at > window.to) continue;
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    busy += dt;
    if (isVerifier(id)) verifier += dt;
    const key = describeFrame(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([frame, micros]) => ({ frame, selfMicrosPerRequest: micros / requests, share: micros / busy }));
  return {
    label,
    requests,
    rps,
    busyMicrosPerRequest: busy / requests,
    verifierMicrosPerRequest: verifier / requests,
    top,
  };
}

/** Runs `auth` in a profiled server child under load (after a warm-up) and summarises the measured window of the profile. */
export async function profileUnderLoad(options: {
  label: string;
  auth: AuthConfig;
  tokens: readonly string[];
  connections: number;
  seconds: number;
}): Promise<ProfileSummary> {
  const dir = await mkdtemp(join(tmpdir(), 'ksa-cpu-prof-'));
  try {
    const server = await ServerProcess.start(options.auth, 30_000, ['--cpu-prof', '--cpu-prof-dir', dir]);
    let load;
    let window: { from: number; to: number };
    try {
      await runLoad({ url: server.url, tokens: options.tokens, connections: options.connections, durationSeconds: 2 });
      const from = (await server.stats()).hrtimeMicros;
      load = await runLoad({
        url: server.url,
        tokens: options.tokens,
        connections: options.connections,
        durationSeconds: options.seconds,
      });
      window = { from, to: (await server.stats()).hrtimeMicros };
      if (load.ok !== load.responses)
        throw new Error(`${options.label}: ${load.responses - load.ok} non-200 responses while profiling`);
    } finally {
      await server.stop();
    }
    const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`${options.label}: the server wrote no CPU profile`);
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
    return summariseProfile(profile, window, options.label, load.responses, load.rps);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A markdown rendering of a summary (for docs/profiles.md). */
export function profileMarkdown(summary: ProfileSummary): string {
  const f = (v: number, d: number) => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  return [
    `**${summary.label}**: ${f(summary.rps, 0)} req/s, ${f(summary.busyMicrosPerRequest, 1)} µs sampled CPU per request, of which ` +
      `${f(summary.verifierMicrosPerRequest, 2)} µs in the verifier and what it calls.`,
    '',
    '| self µs/req | share | frame |',
    '| ---: | ---: | --- |',
    ...summary.top.map(
      (t) => `| ${f(t.selfMicrosPerRequest, 2)} | ${f(t.share * 100, 1)}% | \`${t.frame.replace(/\|/g, '\\|')}\` |`,
    ),
  ].join('\n');
}
