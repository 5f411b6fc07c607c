/**
 * `pnpm bench:profile`: CPU profiles of the server under load (no auth, our middleware on a repeat caller, the express
 * peer), summarised as top frames. Needs no control plane: tokens are signed here (RS256, claims shaped like the API
 * server's) by a key served from a loopback key server. Prints markdown for docs/profiles.md.
 */
import { loadavg } from 'node:os';
import { profileMarkdown, profileUnderLoad } from './profile.js';
import { AUDIENCE, type AuthConfig } from './protocol.js';
import { signedTokenFixture } from './tokens.js';

const seconds = Number(process.env.BENCH_PROFILE_SECONDS ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
const only = process.env.BENCH_PROFILE_ONLY?.split(',').map((s) => s.trim());

async function main(): Promise<void> {
  const issuer = 'https://profile-bench.kube-service-auth.invalid';
  const { keys, token, local } = await signedTokenFixture(issuer);
  const configs: Array<{ id: string; label: string; auth: AuthConfig }> = [
    { id: 'none', label: 'no auth', auth: { kind: 'none' } },
    { id: 'local', label: 'kubeAuth, local mode, repeat caller', auth: local() },
    { id: 'local-nocache', label: 'kubeAuth, local mode, cache off', auth: local(0) },
    {
      id: 'oauth2',
      label: 'express-oauth2-jwt-bearer',
      auth: { kind: 'oauth2', issuer, audience: AUDIENCE, jwksUri: keys.url },
    },
  ];
  try {
    const out: string[] = [
      `_load average (1 min) at start: ${(loadavg()[0] ?? 0).toFixed(2)}; ${seconds} s per profile, ${connections} connections_`,
      '',
    ];
    for (const c of configs.filter((c) => !only || only.includes(c.id))) {
      const summary = await profileUnderLoad({ label: c.label, auth: c.auth, tokens: [token], connections, seconds });
      out.push(profileMarkdown(summary), '');
      process.stderr.write(
        `[profile] ${c.label}: ${summary.rps.toFixed(0)} req/s, ${summary.busyMicrosPerRequest.toFixed(1)} µs/req busy, ${summary.verifierMicrosPerRequest.toFixed(2)} µs/req under verifier frames\n`,
      );
    }
    out.push(`_load average (1 min) at end: ${(loadavg()[0] ?? 0).toFixed(2)}_`);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await keys.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`profile failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
