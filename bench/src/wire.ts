/**
 * Section 3: over the wire, side by side in one run. autocannon (in this process) drives each configuration's
 * server (one forked child, a port per configuration) on 127.0.0.1 in turn, round after round, in an order that
 * rotates; each configuration's requests per second and server CPU per request are divided by the unprotected
 * route's of the same round. A socket, HTTP parsing and the load generator cost far more than an adapter on this
 * machine, so this section shows what a user would see, not what resolves a few µs (that is section 1).
 */
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import type { FromServer, ToServer, WireId } from './wire-server.js';

/** The part of autocannon's programmatic API used here (it ships no types). */
type Autocannon = (
  options: { url: string; connections: number; duration: number; headers: Record<string, string> },
  done: (error: Error | null, result: { requests: { total: number }; non2xx: number; errors: number }) => void,
) => unknown;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface WireOptions {
  jwksUri: string;
  token: string;
  rounds: number;
  seconds: number;
  connections: number;
}

export interface WireRun {
  /** Per configuration, round by round: requests per second, and server CPU µs per request. */
  rps: Map<WireId, number[]>;
  cpu: Map<WireId, number[]>;
  /** Responses other than 200, and socket errors, over all rounds. */
  failures: number;
}

export const WIRE_IDS: readonly WireId[] = ['none', 'none-aa', 'ours', 'ours-off', 'oauth2'];

export async function wire(options: WireOptions): Promise<WireRun> {
  const child = fork(new URL('./wire-server.js', import.meta.url), { stdio: 'inherit' });
  const ask = async (message: ToServer): Promise<FromServer> => {
    child.send(message);
    const [answer] = (await once(child, 'message', { signal: AbortSignal.timeout(60_000) })) as [FromServer];
    return answer;
  };
  try {
    const started = await ask({ type: 'start', jwksUri: options.jwksUri });
    if (started.type !== 'ports') throw new Error('the wire server did not start');
    const headers = { authorization: `Bearer ${options.token}` };
    let failures = 0;
    const load = (id: WireId, duration: number) =>
      new Promise<number>((resolve, reject) =>
        autocannon(
          { url: `http://127.0.0.1:${started.ports[id]}/data`, connections: options.connections, duration, headers },
          (error, result) => {
            if (error) return reject(error);
            failures += result.non2xx + result.errors;
            resolve(result.requests.total);
          },
        ),
      );
    const cpuMicros = async () => {
      const answer = await ask({ type: 'cpu' });
      return answer.type === 'cpu' ? answer.micros : NaN;
    };
    for (const id of WIRE_IDS) await load(id, 1);
    failures = 0;
    const rps = new Map<WireId, number[]>(WIRE_IDS.map((id) => [id, []]));
    const cpu = new Map<WireId, number[]>(WIRE_IDS.map((id) => [id, []]));
    for (let round = 0; round < options.rounds; round++) {
      const order = WIRE_IDS.map((_, i) => WIRE_IDS[(i + round) % WIRE_IDS.length] as WireId);
      for (const id of round % 2 ? order.reverse() : order) {
        const before = await cpuMicros();
        const t = performance.now();
        const requests = await load(id, options.seconds);
        const seconds = (performance.now() - t) / 1000;
        rps.get(id)?.push(requests / seconds);
        cpu.get(id)?.push(((await cpuMicros()) - before) / requests);
      }
    }
    return { rps, cpu, failures };
  } finally {
    child.kill();
  }
}
